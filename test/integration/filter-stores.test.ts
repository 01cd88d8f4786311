/**
 * The filter compiler against real stores: random events and random filters, and for every filter SQLite
 * and MariaDB must return exactly the ids the in-memory evaluator picks. Reproduce a failure with
 * FILTER_SEED=<seed printed in the failure>. MariaDB is not optional here: if it is unreachable, that half fails.
 */
import 'reflect-metadata';
import { mulberry32 } from '../../src/catalog/seed';
import mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { Initial1763900000000 } from '../../src/db/migrations/1763900000000-initial';
import { compileFilter, Dialect, filterPredicate, PlainEvent, registerSqliteFunctions } from '../../src/exports/filter';
import { encodeGeohash } from '../../src/exports/geohash';

const SEED = Number(process.env.FILTER_SEED ?? 20251123);
const EVENT_COUNT = 2000;
const FILTER_COUNT = 400;
const MYSQL_SERVER = process.env.FILTER_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

jest.setTimeout(180_000);

// ---- seeded randomness


class Rand {
  private next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  some<T>(items: readonly T[], lo: number, hi: number): T[] {
    return Array.from({ length: this.int(lo, hi) }, () => this.pick(items));
  }
}

// ---- the data: pools chosen to stress case, trailing spaces, unicode order, escapes and prefixes

const STRINGS = [
  '', 'a', 'A', 'a ', 'ab', 'abc', 'Abc', 'abc\n', 'b', 'héllo', 'HÉLLO', 'Straße', 'ß', '日本語', '日本', '😀', '😀x',
  'x😀', '\ue000', 'line1\nline2', 'tab\there', 'quote"s', "apo's", 'back\\slash', '100', '5', '%_', 'a%b', 'a_b',
  '  lead', 'é', 'e\u0301', 'zz', 'sensor-1', 'nb\u00a0sp', '\ufeffbom', 'nel\u0085', 'ls\u2028x', '\u212a', 'ſ', 'ü_1',
];
const NUMBERS = [0, 1, -1, 1.5, -2.25, 0.1, 0.30000000000000004, 1e21, 1e-7, 123456789.125, 42, 7, 1000, -0.5, 3, 5, 100];
const METRICS = ['temp::number', 'Temp::number', 'count::number', 'label::string', 'name::string', 'é::string', 'flag::bool', 'doc::json', 'cfg::json', 'vec::number[]', 'acc::number[]'];
const TAGS = ['red', 'Red', 'red ', 'blue', 'grün', '日本', 'a"b', 'back\\', 'x,y', '😀', ''];
const SOURCES = ['sensor-1', 'Sensor-1', 'sensor-10', 'sensor-1 ', 'gw/ä', '', 'SENSOR'];
const USERS = ['u1', 'U1', 'u10', 'ü'];
const CLIENTS = ['c1', 'c2', 'C1'];
const CENTERS = [[57.6, 10.4], [-33.9, 151.2], [0.5, 179.9], [89.5, 0], [10, -0.2]] as const;
const KEYS = ['a', 'b', 'c', 'A', 'n1', 'x_y'];
const REGEXES = [
  '^a', 'a$', 'b', '^$', 'A', '^[a-z]+$', '\\d', '[0-9]+', 'é', '^日', '😀', 'e.l', '^.$', '^..$', 'sensor-1$', 'x|y',
  '\\n', '.\\n', 'l+o', 'HÉ', '^s.*1', 'a\\s', '"', '\\\\', '[%_]', '(ab)+', '^\\w+$', 'ß', 'c$', '\\.', '^(?:u|c)1$',
  '\\s', '\\S+$', '^\\W', '\\D', '[\\w]$', '[\\s\\d]', '\\bab', '\\Bb', 'a\\b', '\\v', 'k', '^s', 'ü\\w', '^\\p{L}+$', '^.*$', '1.l', 's.x',
];

function jsonValue(r: Rand, depth: number): unknown {
  const roll = r.int(0, depth > 2 ? 4 : 6);
  if (roll === 0) return r.pick(NUMBERS);
  if (roll === 1) return r.pick(STRINGS);
  if (roll === 2) return r.chance(0.5);
  if (roll === 3) return null;
  if (roll === 4) return r.float(-100, 100);
  if (roll === 5) return Array.from({ length: r.int(0, 3) }, () => jsonValue(r, depth + 1));
  const obj: Record<string, unknown> = {};
  for (const key of r.some(KEYS, 0, 4)) obj[key] = jsonValue(r, depth + 1);
  return obj;
}

function genEvent(r: Rand): PlainEvent {
  const metric = r.pick(METRICS);
  const type = metric.slice(metric.lastIndexOf('::') + 2);
  let value: PlainEvent['value'] = null;
  if (!r.chance(0.1)) {
    if (type === 'number') value = r.chance(0.6) ? r.pick(NUMBERS) : r.float(-1000, 1000);
    else if (type === 'string') value = r.pick(STRINGS);
    else if (type === 'bool') value = r.chance(0.5);
    else if (type === 'number[]') value = Array.from({ length: r.int(0, 4) }, () => (r.chance(0.6) ? r.pick(NUMBERS) : r.float(-100, 100)));
    else {
      const v = r.chance(0.8) ? jsonObject(r) : jsonValue(r, 1);
      value = v === null ? null : (JSON.parse(JSON.stringify(v)) as PlainEvent['value']);
    }
  }
  const center = r.pick(CENTERS);
  const lat = Math.max(-90, Math.min(90, center[0] + r.float(-1, 1)));
  const lng = center[1] + r.float(-1, 1);
  const location = r.chance(0.8) ? { lat, lng: lng > 180 ? lng - 360 : lng } : null;
  const ts = 1_700_000_000_000_000 + r.int(0, 5_000_000) * (r.chance(0.5) ? 1000 : 1);
  return {
    datasetId: r.int(1, 3),
    ts,
    metric,
    value,
    source: r.chance(0.8) ? r.pick(SOURCES) : null,
    tags: r.chance(0.7) ? [...new Set(r.some(TAGS, 0, 3))] : null,
    location,
    geohash: location ? encodeGeohash(location.lat, location.lng, r.int(5, 9)) : null,
    elevation: r.chance(0.7) ? r.pick([...NUMBERS, r.float(-50, 3000)]) : null,
    producer: r.chance(0.25)
      ? null
      : { userId: r.chance(0.7) ? r.pick(USERS) : null, clientId: r.chance(0.6) ? r.pick(CLIENTS) : null },
    tsReceived: ts + r.int(0, 2_000_000),
  };
}

/** JSON values are mostly objects with the keys the path filters look for. */
function jsonObject(r: Rand): unknown {
  const obj: Record<string, unknown> = {};
  for (const key of r.some(KEYS, 1, 4)) obj[key] = r.chance(0.4) ? jsonObject2(r) : jsonValue(r, 3);
  return obj;
}
function jsonObject2(r: Rand): unknown {
  const obj: Record<string, unknown> = {};
  for (const key of r.some(KEYS, 1, 3)) obj[key] = jsonValue(r, 3);
  return obj;
}

/** value_text as the CSV writes it: JSON values (strings included) as compact JSON. */
function valueText(e: PlainEvent): string | null {
  if (e.value === null) return null;
  if (e.metric.endsWith('::json') || e.metric.endsWith('::number[]')) return JSON.stringify(e.value);
  return String(e.value);
}

const COLUMNS = ['id', 'dataset_id', 'ts', 'metric', 'value_num', 'value_text', 'source', 'tags', 'lat', 'lng', 'geohash', 'elevation', 'producer_user_id', 'producer_client_id', 'ts_received'];

function row(id: number, e: PlainEvent): unknown[] {
  const num = e.metric.endsWith('::number') ? e.value : e.metric.endsWith('::bool') && e.value !== null ? (e.value ? 1 : 0) : null;
  return [
    id, e.datasetId, e.ts, e.metric, num, valueText(e), e.source, e.tags === null ? null : JSON.stringify(e.tags),
    e.location?.lat ?? null, e.location?.lng ?? null, e.geohash, e.elevation, e.producer?.userId ?? null, e.producer?.clientId ?? null, e.tsReceived,
  ];
}

// ---- random filters, with operands taken from the data so that they select something

const used = new Set<string>();

function stringOps(r: Rand, sample: () => string | null | undefined): Record<string, unknown> {
  const s = () => sample() ?? r.pick(STRINGS);
  const op = r.pick(['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_startsWith', '_regex', '_exists']);
  used.add(op);
  switch (op) {
    case '_in':
      return { _in: Array.from({ length: r.int(0, 4) }, s) };
    case '_startsWith': {
      const full = s();
      return { _startsWith: r.chance(0.7) ? [...full].slice(0, r.int(0, [...full].length)).join('') : r.pick(['S', 's', 'ab', 'é', 'e', '😀', 'a%', '']) };
    }
    case '_regex':
      if (r.chance(0.5)) {
        used.add('_options');
        return { _regex: r.pick(REGEXES), _options: 'i' };
      }
      return { _regex: r.pick(REGEXES) };
    case '_exists':
      return { _exists: r.chance(0.5) };
    default:
      return { [op]: s() };
  }
}

function numberOps(r: Rand, sample: () => number | null | undefined): Record<string, unknown> {
  const n = () => sample() ?? r.pick(NUMBERS);
  const ops = r.some(['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_exists'], 1, 2);
  const out: Record<string, unknown> = {};
  for (const op of ops) {
    used.add(op);
    out[op] = op === '_in' ? Array.from({ length: r.int(0, 4) }, n) : op === '_exists' ? r.chance(0.5) : n();
  }
  return out;
}

function valueOperand(r: Rand, e: PlainEvent, keys: string[]): unknown {
  let v: unknown = e.value;
  for (const k of keys) v = Array.isArray(v) ? v[Number(k)] : v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  if ((typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') && r.chance(0.7)) return v;
  return r.pick<unknown>([...NUMBERS, ...STRINGS, true, false]);
}

function valueOps(r: Rand, events: PlainEvent[], keys: string[]): Record<string, unknown> {
  const e = r.pick(events);
  const op = r.pick(['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_startsWith', '_regex', '_exists']);
  used.add(op);
  if (op === '_startsWith' || op === '_regex') return stringOps(r, () => (typeof e.value === 'string' ? e.value : null));
  if (op === '_exists') return { _exists: r.chance(0.5) };
  if (op === '_in') return { _in: Array.from({ length: r.int(0, 4) }, () => valueOperand(r, r.pick(events), keys)) };
  let operand = valueOperand(r, e, keys);
  if (typeof operand === 'boolean' && op !== '_eq' && op !== '_neq') operand = r.pick(NUMBERS);
  return { [op]: operand };
}

function locationOps(r: Rand): Record<string, unknown> {
  const op = r.pick(['_locationInCircle', '_locationInPolygon', '_exists']);
  used.add(op);
  const [clat, clng] = r.pick(CENTERS);
  if (op === '_exists') return { _exists: r.chance(0.5) };
  if (op === '_locationInCircle') {
    const radius = r.chance(0.05) ? 2.1e7 : r.chance(0.1) ? 0 : r.float(0, 150_000);
    return { _locationInCircle: { center: { lat: clat + r.float(-0.5, 0.5), lng: Math.max(-180, Math.min(180, clng + r.float(-0.5, 0.5))) }, radius } };
  }
  const points = Array.from({ length: r.int(3, 7) }, () => [
    Math.max(-90, Math.min(90, clat + r.float(-1.2, 1.2))),
    Math.max(-180, Math.min(180, clng + r.float(-1.2, 1.2))),
  ]);
  return { _locationInPolygon: points };
}

function msOf(r: Rand, us: number): number {
  return r.pick([us / 1000, Math.floor(us / 1000), us / 1000 + 0.0005, Math.round(us / 1000) + 0.5]);
}

function leaf(r: Rand, events: PlainEvent[]): Record<string, unknown> {
  const e = () => r.pick(events);
  const field = r.pick([
    'timestamp', 'tsReceived', 'dataset', 'metric', 'source', 'geohash', 'producer->userId', 'producer->clientId',
    'elevation', 'location->lat', 'location->lng', 'value', 'value', 'value', 'value->a', 'value->b', 'value->a->b',
    'value->c->A', 'value->n1', 'value->x_y->a', 'value->0', 'value->1', 'value->3', 'tags', 'tags', 'location', 'location', 'producer',
  ]);
  switch (field) {
    case 'timestamp':
      return { timestamp: numberOps(r, () => msOf(r, e().ts)) };
    case 'tsReceived':
      return { tsReceived: numberOps(r, () => msOf(r, e().tsReceived)) };
    case 'dataset': {
      const op = r.pick(['_eq', '_neq', '_in', '_exists']);
      used.add(op);
      const id = () => String(r.int(1, 4));
      return { dataset: op === '_in' ? { _in: r.some([1, 2, 3, 4], 0, 3).map(String) } : op === '_exists' ? { _exists: true } : { [op]: id() } };
    }
    case 'metric':
      return { metric: stringOps(r, () => (r.chance(0.8) ? e().metric : null)) };
    case 'source':
      return { source: stringOps(r, () => e().source) };
    case 'geohash':
      return { geohash: stringOps(r, () => e().geohash) };
    case 'producer->userId':
      return { [field]: stringOps(r, () => e().producer?.userId) };
    case 'producer->clientId':
      return { [field]: stringOps(r, () => e().producer?.clientId) };
    case 'elevation':
      return { elevation: numberOps(r, () => e().elevation) };
    case 'location->lat':
      return { [field]: numberOps(r, () => e().location?.lat) };
    case 'location->lng':
      return { [field]: numberOps(r, () => e().location?.lng) };
    case 'tags': {
      const op = r.pick(['_withTag', '_withAnyTag', '_exists']);
      used.add(op);
      if (op === '_withTag') return { tags: { _withTag: r.pick(TAGS) } };
      if (op === '_withAnyTag') return { tags: { _withAnyTag: r.some(TAGS, 0, 3) } };
      return { tags: { _exists: r.chance(0.5) } };
    }
    case 'location':
      return { location: locationOps(r) };
    case 'producer':
      used.add('_exists');
      return { producer: { _exists: r.chance(0.5) } };
    default: {
      const keys = field.split('->').slice(1);
      return { [field]: valueOps(r, events, keys) };
    }
  }
}

function genFilter(r: Rand, events: PlainEvent[], depth = 0): Record<string, unknown> {
  const roll = depth < 3 ? r.int(0, 9) : 9;
  if (roll === 0) return { _and: Array.from({ length: r.int(0, 3) }, () => genFilter(r, events, depth + 1)) };
  if (roll === 1) return { _or: Array.from({ length: r.int(0, 3) }, () => genFilter(r, events, depth + 1)) };
  if (roll === 2) return { _not: genFilter(r, events, depth + 1) };
  if (roll === 3) return { ...leaf(r, events), ...leaf(r, events) }; // two fields in one object: AND
  return leaf(r, events);
}

// ---- the stores

const r = new Rand(SEED);
const events = Array.from({ length: EVENT_COUNT }, () => genEvent(r));
const filters: unknown[] = [
  {},
  { value: { _eq: 'a' } },
  { _not: { source: { _eq: 'sensor-1' } } },
  { source: { _regex: 'c$' } },
  { value: { _regex: 'c$' } },
  { value: { _startsWith: 'a' } },
  { value: { _in: [5, 'ab', true, 42] } },
  { 'value->a': { _exists: false } },
  { 'value->0': { _gt: 1 } },
  { 'value->1': { _exists: true } },
  { 'value->0': { _in: [0, 1, 42, 'a'] } },
  { _not: { 'value->2': { _lte: 0 } } },
  { value: { _eq: true } },
  { value: { _neq: false } },
  { metric: { _eq: 'flag::boolean' } },
  { metric: { _in: ['flag::boolean', 'vec::number[]'] } },
  { _or: [] },
  { _and: [] },
  { _not: { _or: [] } },
  // sweeps over the pools where the stores are most likely to part ways: regex dialects, string order, tags
  ...REGEXES.flatMap((p) => [{ value: { _regex: p } }, { 'value->a': { _regex: p, _options: 'i' } }, { source: { _regex: p, _options: 'i' } }]),
  ...STRINGS.flatMap((s) => [{ value: { _gt: s } }, { value: { _eq: s } }, { 'value->b': { _lte: s } }, { source: { _startsWith: s } }]),
  ...TAGS.map((t) => ({ tags: { _withTag: t } })),
  ...Array.from({ length: FILTER_COUNT }, () => genFilter(r, events)),
];
const expected = filters.map((f) => {
  const test = filterPredicate(f);
  return events.flatMap((e, i) => (test(e) ? [i + 1] : []));
});

async function insertAll(ds: DataSource): Promise<void> {
  const rows = events.map((e, i) => row(i + 1, e));
  for (let i = 0; i < rows.length; i += 250) {
    const batch = rows.slice(i, i + 250);
    const tuple = `(${COLUMNS.map(() => '?').join(', ')})`;
    await ds.query(`INSERT INTO event (${COLUMNS.join(', ')}) VALUES ${batch.map(() => tuple).join(', ')}`, batch.flat());
  }
}

async function checkAll(ds: DataSource, dialect: Dialect): Promise<void> {
  const failures: string[] = [];
  for (const [i, filter] of filters.entries()) {
    const { sql, params } = compileFilter(filter, dialect);
    let got: number[];
    try {
      const rows: Array<{ id: number | string }> = await ds.query(`SELECT id FROM event WHERE (${sql}) ORDER BY id`, params);
      got = rows.map((x) => Number(x.id));
    } catch (e) {
      failures.push(`filter ${JSON.stringify(filter)}\n  sql: ${sql}\n  error: ${(e as Error).message}`);
      continue;
    }
    const want = expected[i];
    if (got.join() !== want.join()) {
      const missing = want.filter((id) => !got.includes(id)).slice(0, 5);
      const extra = got.filter((id) => !want.includes(id)).slice(0, 5);
      const show = (ids: number[]) => ids.map((id) => `${id}=${JSON.stringify(events[id - 1])}`).join('\n    ');
      failures.push(
        `filter ${JSON.stringify(filter)}\n  sql: ${sql}\n  params: ${JSON.stringify(params)}\n  evaluator ${want.length} rows, ${dialect} ${got.length}` +
          `\n  missing:\n    ${show(missing)}\n  extra:\n    ${show(extra)}`,
      );
    }
    if (failures.length >= 5) break;
  }
  if (failures.length > 0) throw new Error(`${dialect} disagrees with the evaluator (FILTER_SEED=${SEED}):\n${failures.join('\n')}`);
}

test('the random filters cover every operator and select varied subsets', () => {
  const ops = ['_eq', '_neq', '_gt', '_gte', '_lt', '_lte', '_in', '_startsWith', '_regex', '_options', '_exists', '_withTag', '_withAnyTag', '_locationInCircle', '_locationInPolygon'];
  expect(ops.filter((op) => !used.has(op))).toEqual([]);
  const partial = expected.filter((ids) => ids.length > 0 && ids.length < EVENT_COUNT).length;
  expect(partial / filters.length).toBeGreaterThan(0.5);
});

describe('SQLite (better-sqlite3, schema from the migration)', () => {
  let ds: DataSource;
  beforeAll(async () => {
    ds = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      migrations: [Initial1763900000000],
      prepareDatabase: (db) => registerSqliteFunctions(db),
    });
    await ds.initialize();
    await ds.runMigrations();
    await insertAll(ds);
  });
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  test(`returns exactly the evaluator's ids for ${filters.length} filters (seed ${SEED})`, async () => {
    await checkAll(ds, 'sqlite');
  });
});

describe('MariaDB (mysql2, schema from the migration)', () => {
  const database = `sluice_filter_${process.pid}_${Date.now()}`;
  let admin: mysql.Connection | undefined;
  let ds: DataSource | undefined;
  beforeAll(async () => {
    admin = await mysql.createConnection(`${MYSQL_SERVER}/`);
    await admin.query(`CREATE DATABASE \`${database}\``);
    ds = new DataSource({ type: 'mysql', url: `${MYSQL_SERVER}/${database}`, migrations: [Initial1763900000000] });
    await ds.initialize();
    await ds.runMigrations();
    await insertAll(ds);
  });
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.end();
    }
  });

  test(`returns exactly the evaluator's ids for ${filters.length} filters (seed ${SEED})`, async () => {
    expect(ds?.isInitialized).toBe(true);
    await checkAll(ds!, 'mysql');
  });
});
