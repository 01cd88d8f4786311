import crypto from 'node:crypto';
import os from 'node:os';
import { DataSource } from 'typeorm';
import { DatasetService } from '../../catalog/dataset.service';
import { Config } from '../../config';
import { dialectOf } from '../../db/connection';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { logger } from '../../logger';
import { countFinishedExport, formatOf } from '../../observability/metrics';
import { ExportEstimator } from '../estimate';
import { ExportEvents } from '../export-events';
import { recordCap } from '../export-query';
import { ExportParams } from '../params';
import { Claim, ExportQueue, MAX_FAULTS } from '../queue';
import { ExportJob } from './export-job';
import { overRuntime } from './faults';
import { sweepExpired } from './retention';
import { LifecycleHooks, NO_HOOKS } from '../delivery/delivery';
import { ExportStore, exportKey, exportStoreOf } from '../storage';

const POLL_MS = 500;
/** How often a running export renews its lease and publishes progress: fast enough to see a cancel within a second. */
const HEARTBEAT_MS = 250;
/** How often a full worker checks whether it holds a second slot of a user while another user waits. */
const FAIRNESS_MS = 500;
const SWEEP_MS = 60_000;

/**
 * Takes exports off the queue and runs each as an ExportJob: polls, keeps to EXPORT_CONCURRENCY, renews
 * leases (heartbeat), takes over exports whose worker went silent, and hands exports back when it stops
 * or when a user holds two of its slots while another user waits. The database row stays the truth.
 */
export class ExportWorker {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  private readonly queue: ExportQueue;
  private readonly datasets: DatasetService;
  private readonly estimator: ExportEstimator;
  private readonly store: ExportStore;
  /** The store made ready (its directory exists) before the first attempt writes into it. */
  private ready: Promise<void> = Promise.resolve();
  private readonly running = new Map<string, ExportJob>();
  private timers: NodeJS.Timeout[] = [];
  private takeoverTimer?: NodeJS.Timeout;
  private filling?: Promise<void>;
  private balancing = false;
  private stopping = false;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly events: ExportEvents,
    hooks: LifecycleHooks = NO_HOOKS,
  ) {
    this.queue = new ExportQueue(ds, hooks);
    this.datasets = new DatasetService(ds);
    this.estimator = new ExportEstimator(ds, dialectOf(config.databaseUrl));
    this.store = exportStoreOf(config);
  }

  /** The record estimate of a stored export's parameters, for a claim that finds none yet. */
  private readonly estimate = async (stored: string): Promise<number> => {
    const params = JSON.parse(stored) as ExportParams;
    return Math.min((await this.estimator.count(params)).records, recordCap(params).cap);
  };

  start(): void {
    this.ready = this.store.prepare().catch((err) => logger.warn({ err: (err as Error).message }, 'could not prepare the export store'));
    this.timers = [
      setInterval(() => this.fill(), POLL_MS),
      setInterval(() => void this.heartbeat(), HEARTBEAT_MS),
      setInterval(() => void this.balance(), FAIRNESS_MS),
      setInterval(() => void sweepExpired(this.ds, this.store, this.queue.hooks), SWEEP_MS),
    ];
    this.events.onQueued(() => {
      this.fill();
      void this.balance();
    });
    void sweepExpired(this.ds, this.store, this.queue.hooks);
    this.fill();
    logger.info({ owner: this.owner, concurrency: this.config.exportConcurrency }, 'export worker started');
  }

  /** Stops taking work and hands running exports back to the queue for another worker (not a fault). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.takeoverTimer);
    await this.filling; // a claim still in flight is handed back by fill() itself
    await Promise.all([...this.running.values()].map((job) => (job.stopped ? job.outcome : job.handBack('the worker is stopping'))));
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

  private async formatOfExport(id: string): Promise<string> {
    const row = await this.ds.getRepository(DataExportEntity).findOne({ select: ['params'], where: { id } }).catch(() => null);
    return row ? formatOf(row.params) : 'CSV';
  }

  private async claimUntilFull(): Promise<void> {
    try {
      while (!this.stopping && this.running.size < this.config.exportConcurrency) {
        const claim = await this.queue.claim(this.owner, this.config.exportLeaseMs, (id, userId, attempt) => {
          logger.warn({ export: id, attempt, status: ExportStatus.FAILED }, `export failed: its worker stopped answering on its last allowed fault (${MAX_FAULTS})`);
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
        await this.begin(claim);
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

  /** Access is checked again at the start: a user who lost READ since asking gets FAILED, never the data. */
  private async deniedDataset(claim: Claim): Promise<string | null> {
    const { datasetIds } = JSON.parse(claim.params) as ExportParams;
    for (const id of datasetIds) {
      if (await this.datasets.permissionOf(id, claim.userId)) continue;
      const dataset = await this.datasets.findById(id);
      return dataset ? `"${dataset.name}" (${id})` : `${id} (it was deleted)`;
    }
    return null;
  }

  private async begin(claim: Claim): Promise<void> {
    this.events.changed(claim.id, claim.userId);
    const denied = await this.deniedDataset(claim);
    if (denied) {
      const message = `no longer allowed to read dataset ${denied}: access was removed after the export was requested`;
      logger.warn({ export: claim.id, attempt: claim.attempt, status: ExportStatus.FAILED, message }, 'export failed');
      if (await this.queue.guardedUpdate(claim, { status: ExportStatus.FAILED, message, leaseOwner: null, leaseExpires: null })) countFinishedExport(ExportStatus.FAILED, formatOf(claim.params));
      this.events.changed(claim.id, claim.userId);
      return;
    }
    await this.ready;
    // Files of earlier attempts belong to a worker that died or was overtaken.
    await this.store.discardAttemptsBut(claim.id, exportKey(claim.id, claim.attempt, JSON.parse(claim.params) as ExportParams));
    const job = new ExportJob(claim, this.queue, this.config, this.store, this.events, () => {
      this.running.delete(claim.id);
      this.fill();
    });
    this.running.set(claim.id, job);
    logger.info({ export: claim.id, attempt: claim.attempt, status: ExportStatus.GENERATING, faults: claim.faults }, 'export started');
  }

  /** Renews every lease and publishes progress; a refused renewal means cancelled, removed or taken over. */
  private async heartbeat(): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (job) => {
        if (job.stopped) return;
        if (Date.now() - job.claim.startedOn > this.config.exportMaxRuntimeMs) {
          await job.failWith(overRuntime(this.config.exportMaxRuntimeMs));
          return;
        }
        const asked = Date.now();
        try {
          const held = await this.queue.renew(job.claim, this.config.exportLeaseMs, job.processed);
          if (held) job.leaseUntil = asked + this.config.exportLeaseMs;
          else if (!job.stopped) {
            logger.info({ export: job.id, attempt: job.claim.attempt }, 'export no longer held by this worker (cancelled, removed or taken over); stopping it');
            await job.halt();
          }
          this.events.changed(job.id, job.claim.userId);
        } catch (err) {
          logger.warn({ err: (err as Error).message, export: job.id }, 'could not renew the export lease');
          if (!job.stopped && Date.now() > job.leaseUntil) {
            // Another worker may own it by now; the database decides once it answers again.
            logger.warn({ export: job.id, attempt: job.claim.attempt }, 'export lease ran out without a renewal; stopping it');
            await job.halt();
          }
        }
      }),
    );
  }

  /** One slot per user while others wait: hands back this worker's share of the exports to free. */
  private async balance(): Promise<void> {
    if (this.balancing || this.stopping || this.running.size === 0) return;
    this.balancing = true;
    try {
      const toFree = await this.queue.slotsToFree();
      for (const id of toFree) {
        const job = this.running.get(id);
        if (job && !job.stopped) await job.handBack('another user is waiting while this user holds more than one slot');
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not check the fair share of slots');
    } finally {
      this.balancing = false;
    }
  }
}
