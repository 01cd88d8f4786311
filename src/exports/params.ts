import type { EventFieldName, Precision } from '../events/event-schema';

import type { FormatName, PackagingName } from './formats/format';

export { DEFAULT_FIELDS, EVENT_FIELDS } from '../events/event-schema';
export type { EventFieldName, Precision } from '../events/event-schema';
export type TimestampFormatName = 'EPOCH' | 'ISO8601';

/** A validated export request, stored as JSON on the export row; the runner needs nothing else. */
export interface ExportParams {
  datasetIds: number[];
  metrics: string[] | null;
  timestampPrecision: Precision;
  fields: EventFieldName[];
  filter: unknown;
  /** Epoch ms, inclusive. */
  from: number | null;
  /** Epoch ms, exclusive. */
  to: number | null;
  limit: number | null;
  header: boolean;
  timestampFormat: TimestampFormatName;
  timeZone: string;
  excelSafe: boolean;
  /** Absent on exports asked for before formats existed: CSV. */
  format?: FormatName;
  /** Absent on exports asked for before packaging existed: NONE. */
  packaging?: PackagingName;
  /** The user's maxDataExportRecords when the export was asked for. */
  maxRecords: number;
  /**
   * The snapshot: only events received up to this instant (epoch µs, the request time) are exported.
   * Absent on exports queued before the rule, which then take every event.
   */
  receivedUntil?: number;
}
