import { DataSource, IsNull, LessThan, Not } from 'typeorm';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { logger } from '../../logger';
import { LifecycleHooks, NO_HOOKS } from '../delivery/delivery';
import { ExportStore } from '../storage';

/** Deletes files past their retention; downloads of them answer 410 from then on. */
export async function sweepExpired(ds: DataSource, store: ExportStore, hooks: LifecycleHooks = NO_HOOKS): Promise<void> {
  try {
    const repo = ds.getRepository(DataExportEntity);
    const expired = await repo.find({ where: { status: ExportStatus.COMPLETED, expiresOn: LessThan(Date.now()), fileName: Not(IsNull()) }, take: 500 });
    for (const e of expired) {
      await store.remove(e.fileName as string);
      await repo.update({ id: e.id }, { fileName: null, updatedOn: Date.now() });
      hooks.expired(e.id);
    }
  } catch (err) {
    logger.warn({ err }, 'could not sweep expired exports');
  }
}
