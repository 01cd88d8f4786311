import { EventFieldName, ExportParams } from '../params';

/** Average bytes of each field as CSV text, measured on the seeded data. */
export const CSV_FIELD_BYTES: Record<EventFieldName, number> = {
  timestamp: 14, dataset: 3, metric: 20, producer: 38, source: 11, value: 8, tags: 24, location: 30, geohash: 10, elevation: 3, tsReceived: 14,
};

export function csvBytesPerRecord(params: ExportParams): number {
  return params.fields.reduce((sum, f) => sum + (CSV_FIELD_BYTES[f] ?? 16), 0);
}
