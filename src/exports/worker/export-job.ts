import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Config } from '../../config';
import { ExportStatus } from '../../entities/data-export.entity';
import { logger } from '../../logger';
import { countFinishedExport, formatOf } from '../../observability/metrics';
import { ExportEvents } from '../export-events';
import { RunnerJob, RunnerMessage } from '../export-runner';
import { ExportParams } from '../params';
import { Claim, ExportQueue, MAX_FAULTS } from '../queue';
import { describeFailure, transientFault } from './faults';
import { ExportStore, exportKey } from '../storage';
import type { RunnerFault } from './runner-thread';

const RUNNER_HEAP_LIMITS = { maxOldGenerationSizeMb: 96 };
/** A runner thread that has reported its outcome but not exited after this long is terminated. */
const THREAD_EXIT_GRACE_MS = 5_000;

/**
 * One attempt at one export: a runner thread writing a temporary file, and the outcome written back to
 * the row. Every write is guarded by the claim's attempt, and only the first outcome counts (done,
 * failed, halted): messages after it are ignored.
 */
export class ExportJob {
  /** The attempt's key in the store: its temporary file while it runs, its stored file once committed. */
  readonly fileKey: string;
  processed = 0;
  estimate: number | null;
  /** Set once the outcome is decided here; later messages from the thread are ignored. */
  stopped = false;
  /** When the lease last renewed runs out: past it, another worker may own the export. */
  leaseUntil: number;
  /** The outcome's write (completed, failed, handed back); awaited before the slot is freed. */
  outcome: Promise<void> = Promise.resolve();
  readonly exited: Promise<void>;
  private readonly thread: Worker;
  /** When this worker claimed it, for the duration metric. */
  private readonly claimedAt = Date.now();

  constructor(
    readonly claim: Claim,
    private readonly queue: ExportQueue,
    private readonly config: Config,
    private readonly store: ExportStore,
    private readonly events: ExportEvents,
    onEnded: () => void,
  ) {
    const params = JSON.parse(claim.params) as ExportParams;
    this.fileKey = exportKey(claim.id, claim.attempt, params);
    this.estimate = claim.recordsEstimate || null;
    this.leaseUntil = Date.now() + config.exportLeaseMs;
    const job: RunnerJob = { databaseUrl: config.databaseUrl, exportId: claim.id, params, fileStore: store.location, fileKey: this.fileKey, knownEstimate: claim.recordsEstimate, slicedExports: config.slicedExports };
    // Bounded heaps make V8 collect early: a runner streams in small batches, so its memory stays flat
    // whatever the export's size instead of drifting up to V8's default limits.
    this.thread = new Worker(path.join(__dirname, 'runner-thread.js'), { workerData: job, resourceLimits: RUNNER_HEAP_LIMITS });
    this.exited = new Promise((resolve) => this.thread.once('exit', () => resolve()));
    this.thread.on('message', (m: RunnerMessage | RunnerFault) => this.onMessage(m));
    this.thread.on('error', (err) => {
      this.outcome = this.fail(err.message, (err as NodeJS.ErrnoException).code);
    });
    this.thread.once('exit', (exitCode) => {
      logger.info({ export: claim.id, attempt: claim.attempt, exitCode }, 'export runner thread ended');
      void this.outcome.finally(onEnded);
    });
  }

  get id(): string {
    return this.claim.id;
  }

  private changed(): void {
    this.events.changed(this.claim.id, this.claim.userId);
  }

  private onMessage(m: RunnerMessage | RunnerFault): void {
    if (m.type === 'estimate') {
      this.estimate = m.records;
      void this.queue.guardedUpdate(this.claim, { recordsEstimate: m.records }).then(() => this.changed(), () => undefined);
    } else if (m.type === 'progress') {
      this.processed = m.processed;
    } else if (m.type === 'done') {
      this.outcome = this.complete(m);
    } else if (m.type === 'error') {
      this.outcome = this.fail(m.message, m.code);
    }
  }

  /** Stops the thread and removes its temporary file; the row is left to the caller (or to the lease). */
  async halt(): Promise<void> {
    this.stopped = true;
    await this.thread.terminate();
    await this.store.discardTemp(this.fileKey);
  }

  /** Gracefully gives the export back to the queue (stopping worker, slot freed for another user): no fault. */
  async handBack(reason: string): Promise<void> {
    if (this.stopped) return this.outcome;
    const halted = this.halt();
    this.outcome = (async () => {
      await halted;
      const released = await this.queue.release(this.claim).catch(() => false);
      if (released) logger.info({ export: this.id, attempt: this.claim.attempt, status: ExportStatus.QUEUING, reason }, 'export handed back to the queue');
      else logger.warn({ export: this.id, attempt: this.claim.attempt }, 'could not hand the export back; another worker takes it over when its lease runs out');
      this.changed();
    })();
    return this.outcome;
  }

  /** Ends the export as FAILED with this message (run-time limit, access lost). */
  async failWith(message: string): Promise<void> {
    if (this.stopped) return this.outcome;
    const halted = this.halt();
    this.outcome = (async () => {
      await halted;
      logger.warn({ export: this.id, attempt: this.claim.attempt, status: ExportStatus.FAILED, message }, 'export failed');
      if (await this.queue.guardedUpdate(this.claim, { status: ExportStatus.FAILED, message, leaseOwner: null, leaseExpires: null }).catch(() => false)) {
        countFinishedExport(ExportStatus.FAILED, formatOf(this.claim.params));
      }
      this.changed();
    })();
    return this.outcome;
  }

  /** A thread that reported its outcome should exit by itself; one that does not is not allowed to hold a slot. */
  private reap(now = false): void {
    if (now) {
      void this.thread.terminate();
      return;
    }
    const timer = setTimeout(() => void this.thread.terminate(), THREAD_EXIT_GRACE_MS);
    void this.exited.then(() => clearTimeout(timer));
  }

  private async complete(done: Extract<RunnerMessage, { type: 'done' }>): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reap();
    const { claim } = this;
    const fileName = this.fileKey;
    try {
      await this.store.commit(fileName);
      const compressedSha256 = (await this.store.digest(fileName)).sha256;
      // the runner's completion time, which a ZIP's manifest already holds
      const now = done.completedOn;
      const held = await this.queue.guardedUpdate(claim, {
        status: ExportStatus.COMPLETED, recordsProcessed: done.records, recordsEstimate: Math.max(this.estimate ?? 0, done.records),
        completedOn: now, expiresOn: now + this.config.exportRetentionMs, sizeBytes: done.sizeInBytes,
        compressedSize: done.compressedSizeInBytes, compressedSha256, sha256: done.sha256, truncated: done.truncated, fileName,
        leaseOwner: null, leaseExpires: null,
        message: done.truncated ? `stopped at the limit of ${done.records} records (maxDataExportRecords): the file is truncated` : null,
      });
      if (!held) {
        await this.store.remove(fileName);
        logger.info({ export: claim.id, attempt: claim.attempt }, 'export finished, but it is no longer held by this worker: its file is discarded');
      } else {
        logger.info({ export: claim.id, attempt: claim.attempt, status: ExportStatus.COMPLETED, records: done.records }, 'export completed');
        countFinishedExport(ExportStatus.COMPLETED, formatOf(claim.params), { records: done.records, bytes: done.compressedSizeInBytes, seconds: (now - this.claimedAt) / 1000 });
      }
    } catch (err) {
      await this.store.remove(fileName);
      await this.store.discardTemp(fileName);
      const failed = await this.queue.guardedUpdate(claim, { status: ExportStatus.FAILED, message: `could not store the file: ${(err as Error).message}`, leaseOwner: null, leaseExpires: null }).catch(() => false);
      if (failed) {
        logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.FAILED, err: (err as Error).message }, 'export failed: could not store the file');
        countFinishedExport(ExportStatus.FAILED, formatOf(claim.params));
      }
    }
    this.changed();
  }

  /**
   * The runner gave up. A transient database fault (connection lost or killed) hands the export back to
   * the queue for another attempt, counted as a fault; the MAX_FAULTS-th fault, or anything else, is FAILED.
   */
  private async fail(error: string, code?: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reap(true);
    await this.store.discardTemp(this.fileKey);
    const { claim } = this;
    const fault = transientFault(error, code);
    const faults = claim.faults + 1;
    if (fault && faults < MAX_FAULTS) {
      const message = `attempt ${claim.attempt} was interrupted (fault ${faults} of ${MAX_FAULTS}): ${fault}; queued again`;
      logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.QUEUING, faults, code, error }, 'export interrupted by a transient fault; handing it back to the queue');
      if (!(await this.queue.release(claim, { fault: true, message }).catch(() => false))) {
        logger.warn({ export: claim.id }, 'could not hand the export back; it is taken over when its lease runs out');
      }
    } else {
      const message = fault ? `export failed after ${faults} faulty attempts: ${fault}` : describeFailure(error, code);
      logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.FAILED, faults, code, message }, 'export failed');
      if (await this.queue.guardedUpdate(claim, { status: ExportStatus.FAILED, faults: fault ? faults : claim.faults, message, leaseOwner: null, leaseExpires: null }).catch(() => false)) {
        countFinishedExport(ExportStatus.FAILED, formatOf(claim.params));
      }
    }
    this.changed();
  }
}
