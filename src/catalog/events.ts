import { encodeGeohash } from '../exports/geohash';

export const METRIC_TYPES = ['number', 'string', 'boolean', 'json'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];
const METRIC = /^([^:\s][^:]*)::(number|string|boolean|json)$/;

/** Column order of an event row as inserted: the tuple every writer (ingest, seed, demo) builds. */
export const EVENT_COLUMNS = [
  'dataset_id', 'ts', 'metric', 'value_num', 'value_text', 'source', 'tags', 'lat', 'lng', 'geohash', 'elevation',
  'producer_user_id', 'producer_client_id', 'ts_received',
] as const;
export type EventRow = [
  number, number, string, number | null, string | null, string | null, string | null, number | null, number | null,
  string | null, number | null, string | null, string | null, number,
];

export type InputPrecision = 'SECONDS' | 'MILLISECONDS' | 'MICROSECONDS';
const TO_MICROS: Record<InputPrecision, number> = { SECONDS: 1_000_000, MILLISECONDS: 1000, MICROSECONDS: 1 };

export function metricType(metric: string): MetricType | undefined {
  return METRIC.exec(metric)?.[2] as MetricType | undefined;
}

/** The value's text exactly as the CSV writes it. */
export function valueText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** A json metric's value is always stored as JSON text, so a JSON string stays a quoted string. */
function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown, what: string, max = 255): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new Error(`${what} must be a string`);
  if (v.length > max) throw new Error(`${what} has more than ${max} characters`);
  return v;
}

function optionalNumber(v: unknown, what: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} must be a finite number`);
  return v;
}

/**
 * Checks one ingested event and turns it into a row. Throws an Error whose message says what is wrong
 * with it; the caller adds the event's index.
 */
export function eventToRow(raw: unknown, datasetId: number, precision: InputPrecision, receivedMicros: number): EventRow {
  if (!isPlainObject(raw)) throw new Error('an event must be a JSON object');
  const known = new Set(['timestamp', 'metric', 'value', 'source', 'tags', 'location', 'elevation', 'producer']);
  for (const key of Object.keys(raw)) if (!known.has(key)) throw new Error(`unknown property "${key}" (known: ${[...known].join(', ')})`);

  let ts = receivedMicros;
  if (raw.timestamp !== undefined && raw.timestamp !== null) {
    if (typeof raw.timestamp === 'number' && Number.isFinite(raw.timestamp)) ts = Math.round(raw.timestamp * TO_MICROS[precision]);
    else if (typeof raw.timestamp === 'string' && !Number.isNaN(Date.parse(raw.timestamp))) ts = Date.parse(raw.timestamp) * 1000;
    else throw new Error('timestamp must be a number (epoch, in the request\'s timestampPrecision) or an ISO 8601 string');
    if (!Number.isSafeInteger(ts) || ts < 0) throw new Error('timestamp is out of range');
  }

  if (typeof raw.metric !== 'string') throw new Error('metric is required, as "name::type" with type number, string, boolean or json');
  const type = metricType(raw.metric);
  if (!type || raw.metric.length > 255) throw new Error(`metric "${raw.metric}" must be "name::type" with type number, string, boolean or json`);

  const value = raw.value;
  let valueNum: number | null = null;
  if (value !== undefined && value !== null) {
    const ok =
      (type === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'boolean' && typeof value === 'boolean') ||
      type === 'json';
    if (!ok) throw new Error(`value ${JSON.stringify(value)} is not a ${type}, as metric ${raw.metric} requires`);
    if (typeof value === 'number') valueNum = value;
    if (typeof value === 'boolean') valueNum = value ? 1 : 0;
  }

  let tags: string | null = null;
  if (raw.tags !== undefined && raw.tags !== null) {
    if (!Array.isArray(raw.tags) || raw.tags.some((t) => typeof t !== 'string')) throw new Error('tags must be an array of strings');
    tags = JSON.stringify(raw.tags);
  }

  let lat: number | null = null;
  let lng: number | null = null;
  if (raw.location !== undefined && raw.location !== null) {
    const loc = raw.location;
    if (!isPlainObject(loc) || typeof loc.lat !== 'number' || typeof loc.lng !== 'number' || Math.abs(loc.lat) > 90 || Math.abs(loc.lng) > 180) {
      throw new Error('location must be {"lat": -90..90, "lng": -180..180}');
    }
    lat = loc.lat;
    lng = loc.lng;
  }

  let producerUser: string | null = null;
  let producerClient: string | null = null;
  if (raw.producer !== undefined && raw.producer !== null) {
    if (!isPlainObject(raw.producer)) throw new Error('producer must be {"userId", "clientId"}');
    producerUser = optionalString(raw.producer.userId, 'producer.userId');
    producerClient = optionalString(raw.producer.clientId, 'producer.clientId');
  }

  return [
    datasetId, ts, raw.metric, valueNum, type === 'json' ? jsonText(value) : valueText(value), optionalString(raw.source, 'source'), tags, lat, lng,
    lat === null || lng === null ? null : encodeGeohash(lat, lng), optionalNumber(raw.elevation, 'elevation'),
    producerUser, producerClient, receivedMicros,
  ];
}
