/** The fields a CSV can have, in the order the spec lists them. */
export const EVENT_FIELDS = ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'] as const;
export type EventFieldName = (typeof EVENT_FIELDS)[number];
export const DEFAULT_FIELDS: EventFieldName[] = ['timestamp', 'dataset', 'metric', 'source', 'value'];

export type Precision = 'SECONDS' | 'MILLISECONDS' | 'MICROSECONDS';
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
  /** The user's maxDataExportRecords when the export was asked for. */
  maxRecords: number;
  /** One row per series (dataset, source, metric): its newest event. Absent on exports asked for before it existed. */
  latest?: boolean;
  /** Timestamp order of an ordinary export; absent means ASC. */
  order?: SortOrder;
}
