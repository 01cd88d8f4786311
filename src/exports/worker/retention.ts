import { DataSource, In, IsNull, LessThan, Not } from 'typeorm';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { OutboxMessageEntity } from '../../entities/outbox-message.entity';
import { logger } from '../../logger';
import { LifecycleHooks, NO_HOOKS } from '../delivery/delivery';
import { ExportStore } from '../storage';

/** Delivered and given-up outbox messages are kept this long after they settled (a webhook's `deliveries` lists them). */
export const SETTLED_MESSAGES_KEPT_MS = 30 * 24 * 3_600_000;
/** Messages deleted per sweep: one short statement each minute, however far behind the table is. */
const PRUNE_BATCH = 1_000;

/** Deletes files past their retention; downloads of them answer 410 from then on. Prunes old settled messages. */
export async function sweepExpired(ds: DataSource, store: ExportStore, hooks: LifecycleHooks = NO_HOOKS): Promise<void> {
  try {
    const repo = ds.getRepository(DataExportEntity);
    const expired = await repo.find({ where: { status: ExportStatus.COMPLETED, expiresOn: LessThan(Date.now()), fileName: Not(IsNull()) }, take: 500 });
    for (const e of expired) {
      await store.remove(e.fileName as string);
      await repo.update({ id: e.id }, { fileName: null, updatedOn: Date.now() });
      hooks.expired(e.id);
    }
    await pruneSettledMessages(ds);
  } catch (err) {
    logger.warn({ err }, 'could not sweep expired exports');
  }
}

/** Without this the outbox grows by every webhook call and e-mail ever sent. Pending messages are never touched. */
export async function pruneSettledMessages(ds: DataSource, now = Date.now()): Promise<number> {
  const repo = ds.getRepository(OutboxMessageEntity);
  // A settled message's next_attempt_on is when it settled: a range of idx_outbox_due, so the read stays short.
  const old = await repo.find({ select: ['id'], where: { state: In(['DELIVERED', 'FAILED']), nextAttemptOn: LessThan(now - SETTLED_MESSAGES_KEPT_MS) }, take: PRUNE_BATCH });
  if (old.length === 0) return 0;
  await repo.delete({ id: In(old.map((m) => m.id)) });
  return old.length;
}
