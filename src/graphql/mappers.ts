import { DatasetEntity } from '../entities';
import { DataExportEntity, ExportStatus } from '../entities/data-export.entity';
import type { ExportChange } from '../exports/export-watch';
import type { ExportListFilter } from '../exports/export.service';
import { ExportParams } from '../exports/params';
import { Dataset } from './types/dataset.types';
import { EventField, ExportFormat, ExportPackaging, SortOrder, TimestampPrecision } from './types/enums';
import { DataExport, DataExportFilter } from './types/export.types';

/** A dataset whose metrics are read only if the query asks for them (DatasetMetricsResolver). */
export function toDataset(entity: DatasetEntity): Dataset {
  return { id: String(entity.id), name: entity.name, description: entity.description };
}

export function toDataExport(e: DataExportEntity): DataExport {
  const params = JSON.parse(e.params) as ExportParams;
  const finished = e.status === ExportStatus.COMPLETED;
  return {
    id: e.id,
    name: e.name,
    timestampPrecision: params.timestampPrecision as TimestampPrecision,
    fields: params.fields as EventField[],
    filter: params.filter,
    from: params.from,
    to: params.to,
    limit: params.limit,
    requestedOn: e.requestedOn,
    removed: false,
    format: (params.format ?? 'CSV') as ExportFormat,
    packaging: (params.packaging ?? 'NONE') as ExportPackaging,
    latest: params.latest ?? false,
    order: (params.order ?? 'ASC') as SortOrder,
    userId: e.userId,
    scheduleId: e.scheduleId ?? null,
    datasetIds: params.datasetIds,
    metrics: params.metrics,
    statusValue: {
      status: e.status,
      recordsEstimate: e.recordsEstimate,
      recordsProcessed: e.recordsProcessed,
      queuePosition: null,
      startedOn: e.startedOn,
      message: e.message,
    },
    resultValue: finished
      ? {
          completedOn: e.completedOn,
          expiresOn: e.expiresOn,
          sizeInBytes: e.sizeBytes,
          compressedSizeInBytes: e.compressedSize,
          sha256: e.sha256,
          truncated: e.truncated,
        }
      : null,
  };
}

/** A subscription message: the export's state, or its last state marked `removed`. */
export function toExportChange(change: ExportChange): DataExport {
  return { ...toDataExport(change.export), removed: change.kind === 'removed' };
}

/** The list filter of `exports` and `adminExports`, as the export service reads it. */
export function toListFilter(filter?: DataExportFilter | null): ExportListFilter {
  return {
    statusIn: filter?.status?._in as ExportStatus[] | undefined,
    nameRegex: filter?.name?._regex,
    requestedOnGte: filter?.requestedOn?._gte,
    requestedOnLt: filter?.requestedOn?._lt,
  };
}
