import { DataSource, EntityManager, Not } from 'typeorm';
import { ExportEventEntity } from '../../entities/export-event.entity';
import { logger } from '../../logger';

/** Every kind of thing that can happen to an export (§13), in the words of the GraphQL enum. */
export enum ExportEventType {
  QUEUED = 'QUEUED',
  STARTED = 'STARTED',
  RETRIED = 'RETRIED',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
  DOWNLOADED = 'DOWNLOADED',
  EMAILED = 'EMAILED',
  EMAIL_FAILED = 'EMAIL_FAILED',
  WEBHOOK_DELIVERED = 'WEBHOOK_DELIVERED',
  WEBHOOK_FAILED = 'WEBHOOK_FAILED',
  EXPIRED = 'EXPIRED',
}

export interface ExportEvent {
  at: number;
  type: ExportEventType;
  message: string | null;
}

/**
 * Downloads are the one kind of entry a user can add without end; every other kind is bounded by the
 * export's attempts, e-mail and webhooks. So the history read back holds every other entry (at most
 * HISTORY_OTHERS, the oldest) and the newest HISTORY_DOWNLOADS downloads: a file downloaded thousands of
 * times still shows how it was made and its latest downloads.
 */
export const HISTORY_DOWNLOADS = 1000;
export const HISTORY_OTHERS = 1000;

/** An export's history: written where each thing happens, read oldest first. */
export class ExportHistory {
  constructor(private readonly ds: DataSource) {}

  /** Inside the transaction of the change it records (`m`), or on its own. */
  async record(exportId: string, type: ExportEventType, message: string | null = null, m?: EntityManager): Promise<void> {
    await (m ?? this.ds.manager).getRepository(ExportEventEntity).insert({ exportId, type, message, at: Date.now() });
  }

  /**
   * For things that happen after the fact (a download, a retry): a history that cannot be written must
   * never fail what it describes, so the fault is logged and the work goes on.
   */
  note(exportId: string, type: ExportEventType, message: string | null = null): void {
    this.record(exportId, type, message).catch((err: Error) => logger.warn({ err: err.message, export: exportId, type }, 'could not record an export event'));
  }

  async list(exportId: string): Promise<ExportEvent[]> {
    const repo = this.ds.getRepository(ExportEventEntity);
    const [others, downloads] = await Promise.all([
      repo.find({ where: { exportId, type: Not(ExportEventType.DOWNLOADED) }, order: { id: 'ASC' }, take: HISTORY_OTHERS }),
      repo.find({ where: { exportId, type: ExportEventType.DOWNLOADED }, order: { id: 'DESC' }, take: HISTORY_DOWNLOADS }),
    ]);
    // Ids are BIGINT (strings from MySQL): compared as numbers, they give the order things happened in.
    const rows = [...others, ...downloads].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    return rows.map((r) => ({ at: r.at, type: r.type as ExportEventType, message: r.message }));
  }

  async removeFor(exportId: string, m?: EntityManager): Promise<void> {
    await (m ?? this.ds.manager).getRepository(ExportEventEntity).delete({ exportId });
  }
}
