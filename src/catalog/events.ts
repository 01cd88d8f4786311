import { charCount, EventRow, LIMITS, METRIC_TYPES_TEXT, MICROS_PER, parseMetric, Precision } from '../events/event-schema';
import { eventIdentity } from '../events/identity';
import { encodeGeohash } from '../exports/geohash';

export type InputPrecision = Precision;

/** A broken ingest rule; the caller adds the event's index. */
export class EventRuleError extends Error {}

function fail(message: string): never {
  throw new EventRuleError(message);
}

/** The value's text exactly as the CSV writes it (numbers in shortest round-trip form, arrays as compact JSON). */
export function valueText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** In `u` mode a surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE = /\p{Cs}/u;

/** A lone surrogate cannot be written as UTF-8: the store would keep something else than was sent. */
function wellFormed(s: string, what: string): string {
  if (LONE_SURROGATE.test(s)) fail(`${what} holds a lone UTF-16 surrogate (\\ud800-\\udfff escape): it is not valid Unicode`);
  return s;
}

function optionalString(v: unknown, what: string, max: number): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') fail(`${what} must be a string`);
  if (charCount(v) > max) fail(`${what} has more than ${max} characters`);
  return wellFormed(v, what);
}

function optionalNumber(v: unknown, what: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what} must be a finite number`);
  return v;
}

/** JSON numbers too large for a double parse as Infinity, which JSON.stringify would quietly write as null. */
function hasNonFinite(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) return true;
    if (typeof v === 'object' && v !== null) stack.push(...(Array.isArray(v) ? v : Object.values(v)));
  }
  return false;
}

function hasLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string' && LONE_SURROGATE.test(v)) return true;
    if (typeof v === 'object' && v !== null) {
      if (Array.isArray(v)) stack.push(...v);
      else for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return false;
}

/** ISO 8601 date-time with a zone (Z or ±hh:mm), up to microseconds. */
const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/;

function timestampMicros(raw: unknown, precision: InputPrecision): number {
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw <= 0) fail(`timestamp must be a positive integer (epoch ${precision.toLowerCase()}), got ${raw}`);
    const ts = raw * MICROS_PER[precision];
    if (!Number.isSafeInteger(ts)) fail(`timestamp ${raw} is out of range`);
    return ts;
  }
  if (typeof raw === 'string') {
    const m = ISO_TIMESTAMP.exec(raw);
    const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
    if (!Number.isNaN(ms) && ms > 0) return ms * 1000 + Number((m![2] ?? '').padEnd(6, '0').slice(0, 6));
  }
  fail(`timestamp must be a positive integer (epoch, in the request's timestampPrecision) or an ISO 8601 string like 2024-05-01T12:00:00.000Z`);
}

const KNOWN = new Set(['timestamp', 'metric', 'value', 'source', 'tags', 'location', 'elevation', 'producer']);

/**
 * Checks one ingested event against the rules and turns it into a row. Throws an EventRuleError saying
 * which rule it breaks; the caller adds the event's index.
 */
export function eventToRow(raw: unknown, datasetId: number, precision: InputPrecision, receivedMicros: number): EventRow {
  if (!isPlainObject(raw)) fail('an event must be a JSON object');
  for (const key of Object.keys(raw)) if (!KNOWN.has(key)) fail(`unknown property "${key}" (known: ${[...KNOWN].join(', ')})`);

  const ts = raw.timestamp === undefined || raw.timestamp === null ? receivedMicros : timestampMicros(raw.timestamp, precision);

  if (typeof raw.metric !== 'string') fail(`metric is required, as "name::type" with type ${METRIC_TYPES_TEXT}`);
  const metric = parseMetric(raw.metric);
  if (!metric) fail(`metric ${JSON.stringify(raw.metric.slice(0, 200))} must be "name::type" with type ${METRIC_TYPES_TEXT}`);
  if (charCount(metric.name) > LIMITS.nameChars) fail(`the metric name has more than ${LIMITS.nameChars} characters`);
  wellFormed(metric.name, 'metric');

  const value = raw.value;
  let valueNum: number | null = null;
  let text: string | null = null;
  if (value !== undefined && value !== null) {
    const wrongType: () => never = () => fail(`value ${JSON.stringify(value)?.slice(0, 100)} is not a ${metric.type}, as metric ${metric.canonical} requires`);
    switch (metric.type) {
      case 'number':
        if (typeof value !== 'number') wrongType();
        if (!Number.isFinite(value)) fail('value must be a finite number (it is too large for a double)');
        valueNum = value;
        text = String(value);
        break;
      case 'number[]':
        if (!Array.isArray(value) || !value.every((x) => typeof x === 'number')) wrongType();
        if (value.length > LIMITS.arrayEntries) fail(`value has ${value.length} entries; a number[] holds at most ${LIMITS.arrayEntries}`);
        if (!value.every(Number.isFinite)) fail('value must hold finite numbers only (one is too large for a double)');
        text = JSON.stringify(value);
        break;
      case 'bool':
        if (typeof value !== 'boolean') wrongType();
        valueNum = value ? 1 : 0;
        text = String(value);
        break;
      case 'string':
        if (typeof value !== 'string') wrongType();
        if (charCount(value) > LIMITS.textChars) fail(`value has more than ${LIMITS.textChars} characters`);
        text = wellFormed(value, 'value');
        break;
      case 'json': {
        // Always JSON text, so a JSON string stays a quoted string.
        let json: string;
        try {
          json = JSON.stringify(value);
        } catch {
          fail('value is nested too deeply');
        }
        if (charCount(json) > LIMITS.textChars) fail(`value has more than ${LIMITS.textChars} characters as compact JSON`);
        if (json.includes('null') && hasNonFinite(value)) fail('value holds a number too large for a double (like 1e400); it would be stored as null');
        if (hasLoneSurrogate(value)) fail('value holds a lone UTF-16 surrogate (\\ud800-\\udfff escape): it is not valid Unicode');
        text = json;
        break;
      }
    }
  }

  let tags: string | null = null;
  if (raw.tags !== undefined && raw.tags !== null) {
    if (!Array.isArray(raw.tags) || raw.tags.some((t) => typeof t !== 'string')) fail('tags must be an array of strings');
    if (raw.tags.length > LIMITS.tags) fail(`${raw.tags.length} tags; an event has at most ${LIMITS.tags}`);
    raw.tags.forEach((t: string, i) => {
      if (charCount(t) > LIMITS.nameChars) fail(`tag ${i} has more than ${LIMITS.nameChars} characters`);
      wellFormed(t, `tag ${i}`);
    });
    tags = JSON.stringify(raw.tags);
  }

  let lat: number | null = null;
  let lng: number | null = null;
  if (raw.location !== undefined && raw.location !== null) {
    const loc = raw.location;
    if (!isPlainObject(loc) || typeof loc.lat !== 'number' || typeof loc.lng !== 'number' || !(Math.abs(loc.lat) <= 90) || !(Math.abs(loc.lng) <= 180)) {
      fail('location must be {"lat": -90..90, "lng": -180..180}');
    }
    lat = loc.lat;
    lng = loc.lng;
  }

  let producerUser: string | null = null;
  let producerClient: string | null = null;
  if (raw.producer !== undefined && raw.producer !== null) {
    if (!isPlainObject(raw.producer)) fail('producer must be {"userId", "clientId"}');
    producerUser = optionalString(raw.producer.userId, 'producer.userId', LIMITS.producerChars);
    producerClient = optionalString(raw.producer.clientId, 'producer.clientId', LIMITS.producerChars);
  }
  const source = optionalString(raw.source, 'source', LIMITS.nameChars);

  return [
    datasetId, ts, metric.canonical, valueNum, text, source, tags, lat, lng,
    lat === null || lng === null ? null : encodeGeohash(lat, lng), optionalNumber(raw.elevation, 'elevation'),
    producerUser, producerClient, receivedMicros, eventIdentity(datasetId, ts, metric.canonical, source, producerUser, producerClient),
  ];
}
