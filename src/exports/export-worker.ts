import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DataSource, LessThan, Not, IsNull } from 'typeorm';
import { Config } from '../config';
import { DataExportEntity, ExportStatus } from '../entities/data-export.entity';
import { logger } from '../logger';
import { countFinishedExport, formatOf } from '../observability/metrics';
import { dialectOf } from '../db/connection';
import { ExportEstimator } from './estimate';
import { ExportEvents } from './export-events';
import { recordCap } from './export-query';
import { RunnerJob, RunnerMessage } from './export-runner';
import { exportFileName, tmpFileName, tmpFilePrefix } from './files';
import { ExportParams } from './params';
import { Claim, ExportQueue, MAX_ATTEMPTS } from './queue';
import type { RunnerFault } from './runner-thread';

const POLL_MS = 500;
/** How often a running export renews its lease and publishes progress: fast enough to see a cancel within a second. */
const HEARTBEAT_MS = 250;
const SWEEP_MS = 60_000;
const RUNNER_HEAP_LIMITS = { maxOldGenerationSizeMb: 96 };
/** A runner thread that has reported its outcome but not exited after this long is terminated. */
const THREAD_EXIT_GRACE_MS = 5_000;

interface Running {
  claim: Claim;
  thread: Worker;
  tmpPath: string;
  processed: number;
  estimate: number | null;
  /** Set once the export's outcome is decided here (done, failed, halted): later messages are ignored. */
  stopped: boolean;
  /** When the lease last renewed runs out: past it, another worker may own the export. */
  leaseUntil: number;
  /** The outcome's write (completed, failed, handed back); awaited before the slot is freed. */
  outcome: Promise<void>;
  exited: Promise<void>;
  /** When this worker claimed it, for the duration metric. */
  claimedAt: number;
}

/**
 * Takes exports off the queue and generates each in a worker thread. The database row stays the truth:
 * this class only ever writes to it through writes guarded by its claim.
 */
export class ExportWorker {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  private readonly queue: ExportQueue;
  private readonly estimator: ExportEstimator;
  private readonly running = new Map<string, Running>();
  private pollTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private takeoverTimer?: NodeJS.Timeout;
  private filling?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly events: ExportEvents,
  ) {
    this.queue = new ExportQueue(ds);
    this.estimator = new ExportEstimator(ds, dialectOf(config.databaseUrl));
  }

  /** The record estimate of a stored export's parameters, for a claim that finds none yet. */
  private readonly estimate = async (stored: string): Promise<number> => {
    const params = JSON.parse(stored) as ExportParams;
    return Math.min((await this.estimator.count(params)).records, recordCap(params).cap);
  };

  start(): void {
    fs.mkdirSync(this.config.exportsDir, { recursive: true });
    this.pollTimer = setInterval(() => this.fill(), POLL_MS);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.sweepTimer = setInterval(() => void this.sweepExpired(), SWEEP_MS);
    this.events.onQueued(() => this.fill());
    void this.sweepExpired();
    this.fill();
    logger.info({ owner: this.owner, concurrency: this.config.exportConcurrency }, 'export worker started');
  }

  /** Stops taking work and hands running exports back to the queue for another worker. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    clearTimeout(this.takeoverTimer);
    await this.filling; // a claim still in flight is handed back by fill() itself
    await Promise.all(
      [...this.running.values()].map(async (run) => {
        if (run.stopped) {
          await run.outcome; // completing or failing already: let that write land
          return;
        }
        await this.halt(run);
        const released = await this.queue.release(run.claim).catch(() => false);
        if (released) logger.info({ export: run.claim.id, attempt: run.claim.attempt, status: ExportStatus.QUEUING }, 'export handed back to the queue');
        else logger.warn({ export: run.claim.id, attempt: run.claim.attempt }, 'could not hand the export back; another worker takes it over when its lease runs out');
        this.events.changed(run.claim.id, run.claim.userId);
      }),
    );
  }

  get activeCount(): number {
    return this.running.size;
  }

  /** Claims exports until the worker is at its concurrency. */
  private fill(): void {
    if (this.filling || this.stopping || this.running.size >= this.config.exportConcurrency) return;
    const filling = this.claimUntilFull();
    this.filling = filling;
    void filling.finally(() => {
      if (this.filling === filling) this.filling = undefined;
    });
  }

  private async claimUntilFull(): Promise<void> {
    try {
      while (!this.stopping && this.running.size < this.config.exportConcurrency) {
        const claim = await this.queue.claim(this.owner, this.config.exportLeaseMs, (id, userId, attempt) => {
          logger.warn({ export: id, attempt, status: ExportStatus.FAILED }, `export failed: out of attempts (${MAX_ATTEMPTS})`);
          void this.formatOfExport(id).then((format) => countFinishedExport(ExportStatus.FAILED, format));
          this.events.changed(id, userId);
        }, this.estimate);
        if (!claim) {
          await this.watchLeases();
          break;
        }
        if (this.stopping) {
          await this.queue.release(claim).catch(() => false);
          break;
        }
        this.begin(claim);
      }
    } catch (err) {
      logger.warn({ err }, 'could not claim an export');
    }
  }

  /**
   * With a slot free and nothing to claim: if another worker's lease runs out before the next poll, look
   * again right then, so an export of a dead worker moves on within EXPORT_LEASE of its last heartbeat.
   */
  private async watchLeases(): Promise<void> {
    const next = await this.queue.nextLeaseExpiry(this.owner);
    if (next === null || this.stopping) return;
    const wait = next + 1 - Date.now();
    if (wait >= POLL_MS) return;
    clearTimeout(this.takeoverTimer);
    this.takeoverTimer = setTimeout(() => this.fill(), Math.max(20, wait));
  }

  private begin(claim: Claim): void {
    this.removeStaleTemps(claim);
    const tmpPath = path.join(this.config.exportsDir, tmpFileName(claim.id, claim.attempt));
    const job: RunnerJob = { databaseUrl: this.config.databaseUrl, params: JSON.parse(claim.params) as ExportParams, tmpPath, knownEstimate: claim.recordsEstimate };
    // Bounded heaps make V8 collect early: a runner streams in small batches, so its memory stays flat
    // whatever the export's size instead of drifting up to V8's default limits.
    const thread = new Worker(path.join(__dirname, 'runner-thread.js'), { workerData: job, resourceLimits: RUNNER_HEAP_LIMITS });
    const run: Running = {
      claim, thread, tmpPath, processed: 0, estimate: claim.recordsEstimate || null, stopped: false,
      leaseUntil: Date.now() + this.config.exportLeaseMs, claimedAt: Date.now(), outcome: Promise.resolve(), exited: new Promise((resolve) => thread.once('exit', () => resolve())),
    };
    this.running.set(claim.id, run);
    this.events.changed(claim.id, claim.userId);
    logger.info({ export: claim.id, attempt: claim.attempt, status: ExportStatus.GENERATING }, 'export started');

    thread.on('message', (m: RunnerMessage | RunnerFault) => {
      if (m.type === 'estimate') {
        run.estimate = m.records;
        void this.queue.guardedUpdate(claim, { recordsEstimate: m.records }).then(() => this.events.changed(claim.id, claim.userId), () => undefined);
      } else if (m.type === 'progress') {
        run.processed = m.processed;
      } else if (m.type === 'done') {
        run.outcome = this.complete(run, m);
      } else if (m.type === 'error') {
        run.outcome = this.fail(run, m.message, m.code);
      }
    });
    thread.on('error', (err) => {
      run.outcome = this.fail(run, err.message, (err as NodeJS.ErrnoException).code);
    });
    thread.once('exit', (exitCode) => {
      logger.info({ export: claim.id, attempt: claim.attempt, exitCode }, 'export runner thread ended');
      void run.outcome.finally(() => {
        this.running.delete(claim.id);
        this.fill();
      });
    });
  }

  /** Renews every lease and publishes progress; a refused renewal means cancelled, removed or taken over. */
  private async heartbeat(): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (run) => {
        if (run.stopped) return;
        const asked = Date.now();
        try {
          const held = await this.queue.renew(run.claim, this.config.exportLeaseMs, run.processed);
          if (held) run.leaseUntil = asked + this.config.exportLeaseMs;
          else if (!run.stopped) {
            logger.info({ export: run.claim.id, attempt: run.claim.attempt }, 'export no longer held by this worker (cancelled, removed or taken over); stopping it');
            await this.halt(run);
          }
          this.events.changed(run.claim.id, run.claim.userId);
        } catch (err) {
          logger.warn({ err: (err as Error).message, export: run.claim.id }, 'could not renew the export lease');
          if (!run.stopped && Date.now() > run.leaseUntil) {
            // Another worker may own it by now; the database decides once it answers again.
            logger.warn({ export: run.claim.id, attempt: run.claim.attempt }, 'export lease ran out without a renewal; stopping it');
            await this.halt(run);
          }
        }
      }),
    );
  }

  /** Stops the thread and removes its temporary file; the row is left to the caller (or to the lease). */
  private async halt(run: Running): Promise<void> {
    run.stopped = true;
    await run.thread.terminate();
    fs.rmSync(run.tmpPath, { force: true });
  }

  /** A thread that reported its outcome should exit by itself; one that does not is not allowed to hold a slot. */
  private reap(run: Running, now = false): void {
    if (now) {
      void run.thread.terminate();
      return;
    }
    const timer = setTimeout(() => void run.thread.terminate(), THREAD_EXIT_GRACE_MS);
    void run.exited.then(() => clearTimeout(timer));
  }

  private async complete(run: Running, done: Extract<RunnerMessage, { type: 'done' }>): Promise<void> {
    if (run.stopped) return;
    run.stopped = true;
    this.reap(run);
    const fileName = exportFileName(run.claim.id, run.claim.attempt);
    const finalPath = path.join(this.config.exportsDir, fileName);
    try {
      fs.renameSync(run.tmpPath, finalPath);
      const now = Date.now();
      const held = await this.queue.guardedUpdate(run.claim, {
        status: ExportStatus.COMPLETED, recordsProcessed: done.records, recordsEstimate: Math.max(run.estimate ?? 0, done.records),
        completedOn: now, expiresOn: now + this.config.exportRetentionMs, sizeBytes: done.sizeInBytes,
        compressedSize: done.compressedSizeInBytes, sha256: done.sha256, truncated: done.truncated, fileName,
        leaseOwner: null, leaseExpires: null,
        message: done.truncated ? `stopped at the limit of ${done.records} records (maxDataExportRecords): the file is truncated` : null,
      });
      if (!held) {
        fs.rmSync(finalPath, { force: true });
        logger.info({ export: run.claim.id, attempt: run.claim.attempt }, 'export finished, but it is no longer held by this worker: its file is discarded');
      } else {
        logger.info({ export: run.claim.id, attempt: run.claim.attempt, status: ExportStatus.COMPLETED, records: done.records }, 'export completed');
        countFinishedExport(ExportStatus.COMPLETED, formatOf(run.claim.params), { records: done.records, bytes: done.compressedSizeInBytes, seconds: (now - run.claimedAt) / 1000 });
      }
    } catch (err) {
      fs.rmSync(finalPath, { force: true });
      fs.rmSync(run.tmpPath, { force: true });
      const held = await this.queue.guardedUpdate(run.claim, { status: ExportStatus.FAILED, message: `could not store the file: ${(err as Error).message}`, leaseOwner: null, leaseExpires: null }).catch(() => false);
      if (held) {
        logger.warn({ export: run.claim.id, attempt: run.claim.attempt, status: ExportStatus.FAILED, err: (err as Error).message }, 'export failed: could not store the file');
        countFinishedExport(ExportStatus.FAILED, formatOf(run.claim.params));
      }
    }
    this.events.changed(run.claim.id, run.claim.userId);
  }

  /**
   * The runner gave up. A transient database fault (connection lost or killed) hands the export back to
   * the queue for another attempt, until MAX_ATTEMPTS; anything else, or the last attempt, is FAILED.
   */
  private async fail(run: Running, error: string, code?: string): Promise<void> {
    if (run.stopped) return;
    run.stopped = true;
    this.reap(run, true);
    fs.rmSync(run.tmpPath, { force: true });
    const { claim } = run;
    const fault = transientFault(error, code);
    if (fault && claim.attempt < MAX_ATTEMPTS) {
      const message = `attempt ${claim.attempt} of ${MAX_ATTEMPTS} was interrupted: ${fault}; queued again`;
      logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.QUEUING, code, error }, 'export interrupted by a transient fault; handing it back to the queue');
      if (!(await this.queue.release(claim, message).catch(() => false))) {
        logger.warn({ export: claim.id }, 'could not hand the export back; it is taken over when its lease runs out');
      }
    } else {
      const message = fault ? `export failed after ${claim.attempt} attempts: ${fault}` : describeFailure(error, code);
      logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.FAILED, code, message }, 'export failed');
      if (await this.queue.guardedUpdate(claim, { status: ExportStatus.FAILED, message, leaseOwner: null, leaseExpires: null }).catch(() => false)) {
        countFinishedExport(ExportStatus.FAILED, formatOf(claim.params));
      }
    }
    this.events.changed(claim.id, claim.userId);
  }

  private async formatOfExport(id: string): Promise<string> {
    const row = await this.ds.getRepository(DataExportEntity).findOne({ select: ['params'], where: { id } }).catch(() => null);
    return row ? formatOf(row.params) : 'CSV';
  }

  /** A temporary file from an earlier attempt belongs to a worker that died or was overtaken. */
  private removeStaleTemps(claim: Claim): void {
    const prefix = tmpFilePrefix(claim.id);
    for (const name of fs.readdirSync(this.config.exportsDir)) {
      if (name.startsWith(prefix) && name !== tmpFileName(claim.id, claim.attempt)) fs.rmSync(path.join(this.config.exportsDir, name), { force: true });
    }
  }

  /** Deletes files past their retention; downloads of them answer 410 from then on. */
  private async sweepExpired(): Promise<void> {
    try {
      const repo = this.ds.getRepository(DataExportEntity);
      const expired = await repo.find({ where: { status: ExportStatus.COMPLETED, expiresOn: LessThan(Date.now()), fileName: Not(IsNull()) }, take: 500 });
      for (const e of expired) {
        fs.rmSync(path.join(this.config.exportsDir, e.fileName as string), { force: true });
        await repo.update({ id: e.id }, { fileName: null, updatedOn: Date.now() });
      }
    } catch (err) {
      logger.warn({ err }, 'could not sweep expired exports');
    }
  }
}

/** Faults that say nothing about the export itself: the same export may well succeed on another try. */
const TRANSIENT_FAULTS: Record<string, string> = {
  PROTOCOL_CONNECTION_LOST: 'the database connection was lost',
  PROTOCOL_SEQUENCE_TIMEOUT: 'the database connection was lost',
  ECONNRESET: 'the database connection was lost',
  EPIPE: 'the database connection was lost',
  ER_NET_READ_ERROR: 'the database connection was lost',
  ER_NET_READ_INTERRUPTED: 'the database connection was lost',
  ER_NET_ERROR_ON_WRITE: 'the database connection was lost',
  ER_NET_WRITE_INTERRUPTED: 'the database connection was lost',
  ER_CLIENT_INTERACTION_TIMEOUT: 'the database connection was lost',
  ER_CONNECTION_KILLED: 'the database killed the connection',
  ER_QUERY_INTERRUPTED: 'the database interrupted the query',
  ER_SERVER_SHUTDOWN: 'the database was shutting down',
  ER_NORMAL_SHUTDOWN: 'the database was shutting down',
  ECONNREFUSED: 'the database could not be reached',
  ETIMEDOUT: 'the database could not be reached',
  EHOSTUNREACH: 'the database could not be reached',
  ENETUNREACH: 'the database could not be reached',
  EAI_AGAIN: 'the database could not be reached',
  ER_CON_COUNT_ERROR: 'the database had too many connections',
  SQLITE_BUSY: 'the database was busy',
};

/** Words for a transient fault (a retry may succeed), or null when the fault is not one. */
export function transientFault(message: string, code?: string): string | null {
  const what = code ? TRANSIENT_FAULTS[code] : undefined;
  return what ? `${what} (${code}: ${message})` : null;
}

/** Turns a runner fault into words for the person who asked for the export. */
export function describeFailure(message: string, code?: string): string {
  if (code === 'ENOSPC') return 'the exports disk is full: the export could not be written (free space in EXPORTS_DIR, then export again)';
  if (code === 'EACCES' || code === 'EROFS') return `the exports directory cannot be written (${code}): check EXPORTS_DIR`;
  return `export failed: ${message}`;
}
