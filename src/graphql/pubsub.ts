import crypto from 'node:crypto';
import Redis from 'ioredis';
import { DataSource, MoreThan } from 'typeorm';
import { DataExportEntity } from '../entities/data-export.entity';
import { ExportEvents } from '../exports/export-events';
import { logger } from '../logger';

/** The one topic: "this export changed". Payloads are ids only (JSON-safe); readers load the row, the truth. */
export const EXPORT_CHANGED_CHANNEL = 'sluice:export-changed';
interface ExportChangedMessage {
  exportId: string;
  userId: string;
  origin: string;
}

const DB_POLL_MS = 250;

/**
 * Carries "export changed" between processes so that a subscriber on any server sees a worker's progress
 * in any process: through Redis pub/sub when REDIS_URL is set, else by polling the export table's
 * updated_on (the worker's heartbeat moves it several times a second).
 */
export class ExportChangeBridge {
  private readonly origin = crypto.randomBytes(8).toString('hex');
  private publisher?: Redis;
  private subscriber?: Redis;
  private pollTimer?: NodeJS.Timeout;
  private watermark = Date.now();
  private readonly seen = new Map<string, number>();
  private offLocal?: () => void;

  constructor(
    private readonly ds: DataSource,
    private readonly events: ExportEvents,
    private readonly redisUrl: string,
  ) {}

  get mode(): 'redis' | 'database' {
    return this.redisUrl ? 'redis' : 'database';
  }

  /** Publishes this process's changes to the others (workers and servers both do). */
  async startPublishing(): Promise<void> {
    if (!this.redisUrl) return; // without Redis, the row's updated_on is the message
    this.publisher = new Redis(this.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
    this.publisher.on('error', (err) => logger.warn({ err: err.message }, 'redis publisher error'));
    await this.publisher.connect();
    this.offLocal = this.events.onChanged((exportId, userId, remote) => {
      if (remote) return;
      const message: ExportChangedMessage = { exportId, userId, origin: this.origin };
      this.publisher?.publish(EXPORT_CHANGED_CHANNEL, JSON.stringify(message)).catch(() => undefined);
    });
  }

  /** Receives other processes' changes and re-emits them here, for this server's subscribers. */
  async startReceiving(): Promise<void> {
    if (this.redisUrl) {
      this.subscriber = new Redis(this.redisUrl, { lazyConnect: true });
      this.subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
      await this.subscriber.connect();
      await this.subscriber.subscribe(EXPORT_CHANGED_CHANNEL);
      this.subscriber.on('message', (_channel, raw: string) => {
        try {
          const m = JSON.parse(raw) as ExportChangedMessage;
          if (m.origin !== this.origin) this.events.changed(m.exportId, m.userId, true);
        } catch {
          logger.warn('ignored a malformed message on the export channel');
        }
      });
      return;
    }
    this.pollTimer = setInterval(() => void this.poll(), DB_POLL_MS);
  }

  private polling = false;

  private async poll(): Promise<void> {
    if (this.polling || !this.events.hasWatchers()) return;
    this.polling = true;
    try {
      // A window behind the watermark tolerates writers whose clocks or commits lag a little.
      const rows = await this.ds.getRepository(DataExportEntity).find({
        select: ['id', 'userId', 'updatedOn'],
        where: { updatedOn: MoreThan(this.watermark - 2000) },
      });
      for (const row of rows) {
        if (this.seen.get(row.id) === row.updatedOn) continue;
        this.seen.set(row.id, row.updatedOn);
        this.watermark = Math.max(this.watermark, row.updatedOn);
        this.events.changed(row.id, row.userId, true);
      }
      if (this.seen.size > 10_000) this.seen.clear();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not poll export changes');
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    this.offLocal?.();
    await Promise.all([this.publisher?.quit().catch(() => undefined), this.subscriber?.quit().catch(() => undefined)]);
  }
}
