import type { EventFieldName, Precision } from '../events/event-schema';

import type { FormatName, PackagingName } from './formats/format';

export { DEFAULT_FIELDS, EVENT_FIELDS } from '../events/event-schema';
export type { EventFieldName, Precision } from '../events/event-schema';
export type TimestampFormatName = 'EPOCH' | 'ISO8601';
export type SortOrder = 'ASC' | 'DESC';

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
  /** Set when the owner asked to be e-mailed at the end (§13). */
  notify?: { email: boolean };
  /** A schedule's run (§14): only events with tsReceived (µs) after this (exclusive)... */
  receivedAfter?: number | null;
  /** ...and up to this (inclusive), the run's cutoff. */
  receivedUpTo?: number | null;
  /** One row per series (dataset, source, metric): its newest event. Absent on exports asked for before it existed. */
  latest?: boolean;
  /** Timestamp order of an ordinary export; absent means ASC. */
  order?: SortOrder;
}
