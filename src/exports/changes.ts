import crypto from 'node:crypto';
import Redis from 'ioredis';
import { DataSource, MoreThan } from 'typeorm';
import { DataExportEntity } from '../entities/data-export.entity';
import { ExportRemovalEntity } from '../entities/export-removal.entity';
import { logger } from '../logger';
import { ExportEvents } from './export-events';

/** The one topic: "this export changed". Payloads are ids only (JSON-safe); readers load the row, the truth. */
export const EXPORT_CHANGED_CHANNEL = 'sluice:export-changed';
interface ExportChangedMessage {
  exportId: string;
  userId: string;
  origin: string;
}

/** Without Redis (unset, down, or not yet back), the database is read this often. */
const DB_POLL_MS = 250;
/** With Redis up, the database is still read this often: a notice lost on its way costs this much delay, never the change. */
const SAFETY_POLL_MS = 2_000;
/** Rows changed this long before the newest one seen are read again: writers' commits may land a little out of order. */
const LOOKBACK_MS = 2_000;
/** Removal tombstones older than this are deleted (every process that listens has read them long before). */
export const REMOVAL_KEPT_MS = 3_600_000;
const RECONNECT_MAX_MS = 2_000;

/** REDIS_URL without its password, for logs. */
function shown(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Carries "export changed" between processes, so that a subscriber on any server sees every change made
 * in any process. The database is the truth: receivers read data_export's updated_on and the removal
 * tombstones, every 250 ms without Redis and every 2 s as a safety net with it. Redis (REDIS_URL) only
 * makes notices quicker; when it is down at start or drops later, processes keep going through the
 * database (one warning says so) and use it again once it is back, without a restart.
 */
export class ExportChanges {
  private readonly origin = crypto.randomBytes(8).toString('hex');
  private publisher?: Redis;
  private subscriber?: Redis;
  /** The subscriber is connected and subscribed: notices arrive through Redis. */
  private live = false;
  private unreachableSaid = false;
  private pollTimer?: NodeJS.Timeout;
  private lastPoll = 0;
  private polling = false;
  private watermark = Date.now();
  private readonly seen = new Map<string, number>();
  private offLocal?: () => void;

  constructor(
    private readonly ds: DataSource,
    private readonly events: ExportEvents,
    private readonly redisUrl: string,
  ) {}

  /** 'redis' while notices arrive through Redis, else 'database'. */
  get mode(): 'redis' | 'database' {
    return this.live ? 'redis' : 'database';
  }

  /**
   * Publishes this process's changes (workers and servers both do) and, with `receive`, re-emits other
   * processes' changes here for this server's subscribers. Never waits for Redis, never fails for it.
   */
  start({ receive }: { receive: boolean }): void {
    if (this.redisUrl) {
      this.publisher = this.connect('publisher');
      this.offLocal = this.events.onChanged((exportId, userId, remote) => {
        if (remote || this.publisher?.status !== 'ready') return; // the database carries it meanwhile
        const message: ExportChangedMessage = { exportId, userId, origin: this.origin };
        this.publisher.publish(EXPORT_CHANGED_CHANNEL, JSON.stringify(message)).catch(() => undefined);
      });
    }
    if (!receive) return;
    if (this.redisUrl) this.receiveFromRedis();
    this.pollTimer = setInterval(() => void this.poll(), DB_POLL_MS);
  }

  private connect(role: 'publisher' | 'subscriber'): Redis {
    const redis = new Redis(this.redisUrl, {
      // Commands are never queued while Redis is away: the database carries those changes instead.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      retryStrategy: (times) => Math.min(times * 200, RECONNECT_MAX_MS),
    });
    redis.on('error', (err: Error) => this.unreachable(err));
    redis.on('ready', () => {
      if (this.unreachableSaid) {
        this.unreachableSaid = false;
        logger.info({ role }, `Redis at REDIS_URL=${shown(this.redisUrl)} is reachable again: change notices go through it`);
      }
    });
    return redis;
  }

  /** One warning per outage, however many reconnect attempts fail. */
  private unreachable(err: Error): void {
    this.live = false;
    if (this.unreachableSaid) return;
    this.unreachableSaid = true;
    logger.warn(
      { err: err.message },
      `Redis at REDIS_URL=${shown(this.redisUrl)} cannot be reached (${err.message}): change notices go through the database until it is back`,
    );
  }

  private receiveFromRedis(): void {
    const sub = this.connect('subscriber');
    this.subscriber = sub;
    sub.on('ready', () => {
      sub.subscribe(EXPORT_CHANGED_CHANNEL).then(
        () => {
          this.live = true;
          // What happened while it was away is read from the database right away.
          void this.poll(true);
        },
        (err: Error) => this.unreachable(err),
      );
    });
    sub.on('close', () => {
      this.live = false;
    });
    sub.on('message', (_channel: string, raw: string) => {
      try {
        const m = JSON.parse(raw) as ExportChangedMessage;
        if (m.origin !== this.origin) this.events.changed(m.exportId, m.userId, true);
      } catch {
        logger.warn('ignored a malformed message on the export channel');
      }
    });
  }

  private async poll(force = false): Promise<void> {
    if (this.polling) return;
    if (!this.events.hasWatchers()) {
      // Nobody listens: nothing to tell. A subscriber that arrives reads its first state itself.
      this.watermark = Date.now();
      return;
    }
    if (!force && this.live && Date.now() - this.lastPoll < SAFETY_POLL_MS) return;
    this.polling = true;
    this.lastPoll = Date.now();
    try {
      const since = this.watermark - LOOKBACK_MS;
      const [rows, removals] = await Promise.all([
        this.ds.getRepository(DataExportEntity).find({ select: ['id', 'userId', 'updatedOn'], where: { updatedOn: MoreThan(since) } }),
        this.ds.getRepository(ExportRemovalEntity).find({ select: ['exportId', 'userId', 'removedOn'], where: { removedOn: MoreThan(since) } }),
      ]);
      const changes = [
        ...rows.map((r) => ({ id: r.id, userId: r.userId, at: r.updatedOn, key: r.id })),
        ...removals.map((r) => ({ id: r.exportId, userId: r.userId, at: r.removedOn, key: `removed:${r.exportId}` })),
      ].sort((a, b) => a.at - b.at);
      for (const c of changes) {
        if (this.seen.get(c.key) === c.at) continue;
        this.seen.set(c.key, c.at);
        this.watermark = Math.max(this.watermark, c.at);
        this.events.changed(c.id, c.userId, true);
      }
      for (const [key, at] of this.seen) if (at < since) this.seen.delete(key);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not read export changes from the database');
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    this.offLocal?.();
    // disconnect, not quit: quit waits on a Redis that may be away, and reconnecting would go on.
    this.publisher?.disconnect();
    this.subscriber?.disconnect();
  }
}
