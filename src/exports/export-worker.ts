import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DataSource, LessThan, Not, IsNull } from 'typeorm';
import { Config } from '../config';
import { DataExportEntity, ExportStatus } from '../entities/data-export.entity';
import { logger } from '../logger';
import { ExportEvents } from './export-events';
import { RunnerJob, RunnerMessage } from './export-runner';
import { exportFileName, tmpFileName, tmpFilePrefix } from './files';
import { ExportParams } from './params';
import { Claim, ExportQueue } from './queue';

const POLL_MS = 500;
/** How often a running export renews its lease and publishes progress: fast enough to see a cancel within a second. */
const HEARTBEAT_MS = 250;
const SWEEP_MS = 60_000;

interface Running {
  claim: Claim;
  thread: Worker;
  tmpPath: string;
  processed: number;
  estimate: number | null;
  stopped: boolean;
}

/**
 * Takes exports off the queue and generates each in a worker thread. The database row stays the truth:
 * this class only ever writes to it through writes guarded by its claim.
 */
export class ExportWorker {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  private readonly queue: ExportQueue;
  private readonly running = new Map<string, Running>();
  private pollTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private filling = false;
  private stopping = false;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly events: ExportEvents,
  ) {
    this.queue = new ExportQueue(ds);
  }

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
    await Promise.all(
      [...this.running.values()].map(async (run) => {
        await this.halt(run);
        await this.queue.release(run.claim).catch(() => false);
        this.events.changed(run.claim.id, run.claim.userId);
      }),
    );
  }

  get activeCount(): number {
    return this.running.size;
  }

  /** Claims exports until the worker is at its concurrency. */
  private fill(): void {
    if (this.filling || this.stopping) return;
    this.filling = true;
    void (async () => {
      try {
        while (!this.stopping && this.running.size < this.config.exportConcurrency) {
          const claim = await this.queue.claim(this.owner, this.config.exportLeaseMs);
          if (!claim) break;
          this.begin(claim);
        }
      } catch (err) {
        logger.warn({ err }, 'could not claim an export');
      } finally {
        this.filling = false;
      }
    })();
  }

  private begin(claim: Claim): void {
    this.removeStaleTemps(claim);
    const tmpPath = path.join(this.config.exportsDir, tmpFileName(claim.id, claim.attempt));
    const job: RunnerJob = { databaseUrl: this.config.databaseUrl, params: JSON.parse(claim.params) as ExportParams, tmpPath, knownEstimate: claim.recordsEstimate };
    const thread = new Worker(path.join(__dirname, 'runner-thread.js'), { workerData: job });
    const run: Running = { claim, thread, tmpPath, processed: 0, estimate: claim.recordsEstimate || null, stopped: false };
    this.running.set(claim.id, run);
    this.events.changed(claim.id, claim.userId);
    logger.info({ export: claim.id, attempt: claim.attempt }, 'export started');

    let outcome: Promise<void> = Promise.resolve();
    thread.on('message', (m: RunnerMessage | { type: 'error'; message: string; code?: string }) => {
      if (m.type === 'estimate') {
        run.estimate = m.records;
        void this.queue.guardedUpdate(claim, { recordsEstimate: m.records }).then(() => this.events.changed(claim.id, claim.userId));
      } else if (m.type === 'progress') {
        run.processed = m.processed;
      } else if (m.type === 'done') {
        outcome = this.complete(run, m);
      } else if (m.type === 'error') {
        outcome = this.fail(run, describeFailure(m.message, m.code));
      }
    });
    thread.on('error', (err) => {
      outcome = this.fail(run, describeFailure(err.message, (err as NodeJS.ErrnoException).code));
    });
    thread.on('exit', () => {
      void outcome.finally(() => {
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
        try {
          const held = await this.queue.renew(run.claim, this.config.exportLeaseMs, run.processed);
          if (!held && !run.stopped) {
            logger.info({ export: run.claim.id }, 'export no longer held by this worker; stopping it');
            await this.halt(run);
          }
          this.events.changed(run.claim.id, run.claim.userId);
        } catch (err) {
          logger.warn({ err, export: run.claim.id }, 'could not renew the export lease');
        }
      }),
    );
  }

  private async halt(run: Running): Promise<void> {
    run.stopped = true;
    await run.thread.terminate();
    fs.rmSync(run.tmpPath, { force: true });
  }

  private async complete(run: Running, done: Extract<RunnerMessage, { type: 'done' }>): Promise<void> {
    if (run.stopped) return;
    run.stopped = true;
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
      if (!held) fs.rmSync(finalPath, { force: true });
      else logger.info({ export: run.claim.id, records: done.records }, 'export completed');
    } catch (err) {
      fs.rmSync(finalPath, { force: true });
      fs.rmSync(run.tmpPath, { force: true });
      await this.queue.guardedUpdate(run.claim, { status: ExportStatus.FAILED, message: `could not store the file: ${(err as Error).message}` }).catch(() => false);
    }
    this.events.changed(run.claim.id, run.claim.userId);
  }

  private async fail(run: Running, message: string): Promise<void> {
    if (run.stopped) return;
    run.stopped = true;
    fs.rmSync(run.tmpPath, { force: true });
    logger.warn({ export: run.claim.id, message }, 'export failed');
    await this.queue.guardedUpdate(run.claim, { status: ExportStatus.FAILED, message, leaseOwner: null, leaseExpires: null }).catch(() => false);
    this.events.changed(run.claim.id, run.claim.userId);
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

/** Turns a runner fault into words for the person who asked for the export. */
export function describeFailure(message: string, code?: string): string {
  if (code === 'ENOSPC') return 'the exports disk is full: the export could not be written (free space in EXPORTS_DIR, then export again)';
  if (code === 'EACCES' || code === 'EROFS') return `the exports directory cannot be written (${code}): check EXPORTS_DIR`;
  return `export failed: ${message}`;
}
