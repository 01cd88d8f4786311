import { DataSource, EntityManager } from 'typeorm';
import { Config } from '../../config';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { UserEntity } from '../../entities/user.entity';
import { DownloadLinkService } from '../download-link.service';
import { Mailer } from './email';
import { ExportEventType, ExportHistory } from './history';
import { Outbox } from './outbox';
import { WebhookEventType, WebhookSender, WebhookService } from './webhooks';

/**
 * What the export lifecycle tells delivery. `ended` runs inside the transaction of the terminal state
 * change, so the history row and the outbox messages exist exactly when the change does.
 */
export interface LifecycleHooks {
  queued(m: EntityManager, exportId: string): Promise<void>;
  started(exportId: string, attempt: number): void;
  retried(exportId: string, message: string): void;
  ended(m: EntityManager, exportId: string): Promise<void>;
  downloaded(exportId: string, message: string): void;
  expired(exportId: string): void;
}

export const NO_HOOKS: LifecycleHooks = {
  queued: async () => undefined,
  started: () => undefined,
  retried: () => undefined,
  ended: async () => undefined,
  downloaded: () => undefined,
  expired: () => undefined,
};

const ENDINGS: Partial<Record<ExportStatus, { history: ExportEventType; webhook: WebhookEventType; type: string }>> = {
  [ExportStatus.COMPLETED]: { history: ExportEventType.COMPLETED, webhook: WebhookEventType.EXPORT_COMPLETED, type: 'export.completed' },
  [ExportStatus.FAILED]: { history: ExportEventType.FAILED, webhook: WebhookEventType.EXPORT_FAILED, type: 'export.failed' },
  [ExportStatus.CANCELLED]: { history: ExportEventType.CANCELLED, webhook: WebhookEventType.EXPORT_CANCELLED, type: 'export.cancelled' },
};

/** History, webhooks and e-mail behind one hook; its outbox is run by every server and worker. */
export class Delivery implements LifecycleHooks {
  readonly history: ExportHistory;
  readonly webhooks: WebhookService;
  readonly outbox: Outbox;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly links: DownloadLinkService,
  ) {
    this.history = new ExportHistory(ds);
    this.webhooks = new WebhookService(ds, config);
    this.outbox = new Outbox(ds, config.webhookRetryDelays);
    this.outbox.handle('webhook', new WebhookSender(ds, config, this.history));
    this.outbox.handle('email', new Mailer(ds, config, this.history, links));
  }

  async queued(m: EntityManager, exportId: string): Promise<void> {
    await this.history.record(exportId, ExportEventType.QUEUED, null, m);
  }

  started(exportId: string, attempt: number): void {
    this.history.note(exportId, ExportEventType.STARTED, `attempt ${attempt}`);
  }

  retried(exportId: string, message: string): void {
    this.history.note(exportId, ExportEventType.RETRIED, message);
  }

  downloaded(exportId: string, message: string): void {
    this.history.note(exportId, ExportEventType.DOWNLOADED, message);
  }

  expired(exportId: string): void {
    this.history.note(exportId, ExportEventType.EXPIRED, 'the retention time (EXPORT_RETENTION) ran out and the file was deleted');
  }

  async ended(m: EntityManager, exportId: string): Promise<void> {
    const row = await m.getRepository(DataExportEntity).findOneBy({ id: exportId });
    const ending = row && ENDINGS[row.status];
    if (!row || !ending) return;
    await this.history.record(exportId, ending.history, row.message, m);
    const hooks = await this.webhooks.subscribers(m, row.userId, ending.webhook);
    if (hooks.length) {
      const payload = JSON.stringify(await this.webhookBody(row, ending.type));
      for (const hook of hooks) {
        await this.outbox.enqueue(m, { kind: 'webhook', exportId, userId: row.userId, webhookId: hook.id, event: ending.webhook, payload });
      }
    }
    const notify = (JSON.parse(row.params) as { notify?: { email?: boolean } }).notify;
    if (notify?.email && row.status !== ExportStatus.CANCELLED) {
      const user = await m.getRepository(UserEntity).findOneBy({ id: row.userId });
      await this.outbox.enqueue(m, { kind: 'email', exportId, userId: row.userId, event: ending.webhook, payload: JSON.stringify({ to: user?.email ?? null }) });
    }
  }

  /** The body of every attempt of one webhook message (§13), fixed when the export ends. */
  private async webhookBody(row: DataExportEntity, type: string): Promise<unknown> {
    const completed = row.status === ExportStatus.COMPLETED;
    const link = completed && row.expiresOn ? (await this.links.create(row.id, row.expiresOn)).link : null;
    return {
      type,
      timestamp: new Date(row.completedOn ?? row.updatedOn).toISOString(),
      data: {
        id: row.id,
        name: row.name,
        status: row.status,
        message: row.message,
        records: row.recordsProcessed,
        result: completed
          ? {
              completedOn: row.completedOn, expiresOn: row.expiresOn, sizeInBytes: row.sizeBytes, compressedSizeInBytes: row.compressedSize,
              sha256: row.sha256, truncated: row.truncated,
            }
          : null,
        downloadLink: link,
      },
    };
  }
}
