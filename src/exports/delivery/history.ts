import { DataSource, EntityManager } from 'typeorm';
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
    const rows = await this.ds.getRepository(ExportEventEntity).find({ where: { exportId }, order: { id: 'ASC' }, take: 1000 });
    return rows.map((r) => ({ at: r.at, type: r.type as ExportEventType, message: r.message }));
  }

  async removeFor(exportId: string, m?: EntityManager): Promise<void> {
    await (m ?? this.ds.manager).getRepository(ExportEventEntity).delete({ exportId });
  }
}
