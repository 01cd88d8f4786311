/**
 * The one description of an event: its fields and the columns they are stored in, the metric types and
 * how a metric is named, the timestamp precisions, and the size limits of ingest. Ingest, seed, the
 * export runner, the filter compiler, the GraphQL enums and (through the schema) the web page read it
 * from here; adding a field or a metric type means editing this file and writing a migration.
 *
 * Kept free of TypeORM and GraphQL so that worker threads can load it cheaply.
 */

/** The fields an export can have, in the order the API lists them, with what each holds. */
export const EVENT_FIELD_DESCRIPTIONS = {
  timestamp: 'when the event happened, in the export\'s timestampPrecision (or ISO 8601 with timestampFormat)',
  dataset: 'the id of the dataset the event belongs to',
  metric: 'the metric as name::type, e.g. temperature::number',
  producer: 'who sent the event, as JSON {"userId","clientId"}',
  source: 'the device or origin the event came from',
  value: 'the value: a number, true/false, a string, or compact JSON (number[] and json metrics)',
  tags: 'the event\'s tags as a JSON array of strings',
  location: 'where the event happened, as JSON {"lat","lng"}',
  geohash: 'the location as a 12-character geohash',
  elevation: 'metres above sea level',
  tsReceived: 'when the server received (or last replaced) the event, in the export\'s timestamp precision',
} as const;

export type EventFieldName = keyof typeof EVENT_FIELD_DESCRIPTIONS;
export const EVENT_FIELDS = Object.keys(EVENT_FIELD_DESCRIPTIONS) as EventFieldName[];
export const DEFAULT_FIELDS: EventFieldName[] = ['timestamp', 'dataset', 'metric', 'source', 'value'];

/** The event columns each field is made from, in the order a writer reads them. */
export const FIELD_COLUMNS: Record<EventFieldName, string[]> = {
  timestamp: ['ts'],
  dataset: ['dataset_id'],
  metric: ['metric'],
  producer: ['producer_user_id', 'producer_client_id'],
  source: ['source'],
  value: ['value_text'],
  tags: ['tags'],
  location: ['lat', 'lng'],
  geohash: ['geohash'],
  elevation: ['elevation'],
  tsReceived: ['ts_received'],
};

export const PRECISION_DESCRIPTIONS = {
  SECONDS: 'whole seconds since 1970-01-01 UTC',
  MILLISECONDS: 'milliseconds since 1970-01-01 UTC',
  MICROSECONDS: 'microseconds since 1970-01-01 UTC (the precision events are stored in)',
} as const;
export type Precision = keyof typeof PRECISION_DESCRIPTIONS;
export const PRECISIONS = Object.keys(PRECISION_DESCRIPTIONS) as Precision[];
/** Microseconds in one unit of each precision: events are stored in µs. */
export const MICROS_PER: Record<Precision, number> = { SECONDS: 1_000_000, MILLISECONDS: 1000, MICROSECONDS: 1 };
/** Fraction digits an ISO 8601 timestamp shows in each precision. */
export const FRACTION_DIGITS: Record<Precision, number> = { SECONDS: 0, MILLISECONDS: 3, MICROSECONDS: 6 };

/** Obelisk's metric types. */
export const METRIC_TYPES = ['number', 'number[]', 'bool', 'string', 'json'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];
/** Other names accepted for a type wherever a metric is named; stored and shown under the type's own name. */
export const METRIC_TYPE_ALIASES: Record<string, MetricType> = { boolean: 'bool' };

const TYPE_NAMES = [...METRIC_TYPES, ...Object.keys(METRIC_TYPE_ALIASES)];
const TYPE_ALTERNATIVES = TYPE_NAMES.map((t) => t.replace(/[[\]]/g, '\\$&')).join('|');
/** `name::type`: a name that does not start with a space or a colon and holds no colon. */
export const METRIC_PATTERN = new RegExp(`^([^:\\s][^:]*)::(${TYPE_ALTERNATIVES})$`);
/** A metric selector of an export: `name::type`, or `*::type` for every metric of a type. */
export const METRIC_SELECTOR_PATTERN = new RegExp(`^([^:\\s][^:]*|\\*)::(${TYPE_ALTERNATIVES})$`);
export const METRIC_TYPES_TEXT = `${METRIC_TYPES.join(', ')} (boolean is another name for bool)`;

/** Ingest limits (Obelisk's). Lengths count characters (Unicode code points). */
export const LIMITS = {
  /** Metric name (without ::type), source, and each tag. */
  nameChars: 128,
  tags: 32,
  arrayEntries: 128,
  /** A string value, and a json value written as compact JSON. */
  textChars: 65_535,
  /** producer.userId and producer.clientId. */
  producerChars: 255,
} as const;

export interface ParsedMetric {
  name: string;
  type: MetricType;
  /** `name::type` with the type under its own name (an alias replaced). */
  canonical: string;
}

export function canonicalType(type: string): MetricType | undefined {
  if ((METRIC_TYPES as readonly string[]).includes(type)) return type as MetricType;
  return METRIC_TYPE_ALIASES[type];
}

/** The metric's name and type, or null if it is not `name::type` with a known type. */
export function parseMetric(metric: string): ParsedMetric | null {
  const m = METRIC_PATTERN.exec(metric);
  if (!m) return null;
  const type = canonicalType(m[2]) as MetricType;
  return { name: m[1], type, canonical: `${m[1]}::${type}` };
}

/** A selector (`name::type` or `*::type`) with its type under its own name, or null if it is not one. */
export function canonicalSelector(selector: string): string | null {
  const m = METRIC_SELECTOR_PATTERN.exec(selector);
  return m ? `${m[1]}::${canonicalType(m[2])}` : null;
}

/** Characters as people count them (code points), cheaply for the usual short strings. */
export function charCount(s: string): number {
  if (s.length <= LIMITS.nameChars) return s.length; // a code point is at most two UTF-16 units...
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
    else {
      n++;
      i++; // ...and a high surrogate takes its pair with it
    }
  }
  return n;
}

/** Column order of an event row as inserted: the tuple every writer (ingest, seed, demo) builds. */
export const EVENT_COLUMNS = [
  'dataset_id', 'ts', 'metric', 'value_num', 'value_text', 'source', 'tags', 'lat', 'lng', 'geohash', 'elevation',
  'producer_user_id', 'producer_client_id', 'ts_received', 'identity',
] as const;
export type EventRow = [
  number, number, string, number | null, string | null, string | null, string | null, number | null, number | null,
  string | null, number | null, string | null, string | null, number, Buffer,
];
/** Positions in an EventRow. */
export const ROW = { dataset: 0, ts: 1, metric: 2, tsReceived: 13, identity: 14 } as const;
/** The columns an ingest replaces when the event's identity is already stored (all but the identity's own). */
export const REPLACED_COLUMNS = ['value_num', 'value_text', 'tags', 'lat', 'lng', 'geohash', 'elevation', 'ts_received'] as const;
