import fs from 'node:fs';
import path from 'node:path';
import { DataSource, IsNull, LessThan, Not } from 'typeorm';
import { DataExportEntity, ExportStatus } from '../../entities/data-export.entity';
import { logger } from '../../logger';

/** Deletes files past their retention; downloads of them answer 410 from then on. */
export async function sweepExpired(ds: DataSource, exportsDir: string): Promise<void> {
  try {
    const repo = ds.getRepository(DataExportEntity);
    const expired = await repo.find({ where: { status: ExportStatus.COMPLETED, expiresOn: LessThan(Date.now()), fileName: Not(IsNull()) }, take: 500 });
    for (const e of expired) {
      fs.rmSync(path.join(exportsDir, e.fileName as string), { force: true });
      await repo.update({ id: e.id }, { fileName: null, updatedOn: Date.now() });
    }
  } catch (err) {
    logger.warn({ err }, 'could not sweep expired exports');
  }
}
