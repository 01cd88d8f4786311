import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { nowMicros } from '../clock';
import { mysqlConnectionOptions } from '../db/connection';
import { encodeGeohash } from '../exports/geohash';
import { EVENT_COLUMNS, EventRow, ROW } from '../events/event-schema';
import { IDENTITY_BYTES, identityOf, seriesHash } from '../events/identity';
import { DatasetService } from './dataset.service';
import { HourlyCounts, MICROS_PER_HOUR } from './event-counts';
import { valueText } from './events';
import { lastUpdates, upsertSql } from './event.service';
import { OpenWrites } from '../exports/schedules/open-writes';

/** The seed's first timestamp (µs): fixed once per seed call, so rows and counts agree. */
function seedStart(opts: SeedOptions): number {
  opts.startMs ??= Math.floor(Date.now() - opts.events * (opts.intervalMs ?? 100));
  return opts.startMs * 1000;
}

export interface SeedOptions {
  datasetId: number;
  events: number;
  metrics?: number;
  sources?: number;
  /** Epoch ms of the first event; default: so that the last event is now. */
  startMs?: number;
  /** Milliseconds between consecutive events. */
  intervalMs?: number;
}

/** Small, fast, seedable PRNG so that the same seed call makes the same data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METRIC_KINDS = [
  { name: 'temperature', type: 'number' },
  { name: 'humidity', type: 'number' },
  { name: 'status', type: 'string' },
  { name: 'door_open', type: 'bool' },
  { name: 'reading', type: 'json' },
  { name: 'pressure', type: 'number' },
  { name: 'note', type: 'string' },
] as const;
const STATUSES = ['ok', 'degraded', 'offline', 'maintenance, scheduled', 'says "hi"', 'température élevée'];
const TAGS = ['indoor', 'outdoor', 'calibrated', 'battery', 'north', 'south'];

/** The (metric, timestamp) of every event `syntheticRows` makes, cheaply, for the hourly counts. */
function* syntheticKeys(opts: SeedOptions): Generator<[string, number]> {
  const metricCount = Math.max(1, opts.metrics ?? 5);
  const interval = (opts.intervalMs ?? 100) * 1000;
  const start = seedStart(opts);
  for (let i = 0; i < opts.events; i++) yield [metricName(metricCount, i), start + i * interval];
}

function metricName(metricCount: number, i: number): string {
  const kind = METRIC_KINDS[i % Math.min(metricCount, METRIC_KINDS.length)];
  return metricCount > METRIC_KINDS.length ? `${kind.name}_${i % metricCount}::${kind.type}` : `${kind.name}::${kind.type}`;
}

/** What an event takes from its source: the same for every event of that source. */
interface SourceParts {
  source: string;
  tags: string;
  lat: number;
  lng: number;
  geohash: string;
  elevation: number;
  producerUser: string;
  producerClient: string;
}

function sourceParts(s: number): SourceParts {
  const lat = 48.85 + (s % 10) * 0.01;
  const lng = 2.35 + Math.floor(s / 10) * 0.01;
  return {
    source: `sensor-${String(s).padStart(3, '0')}`, tags: JSON.stringify([TAGS[s % TAGS.length], TAGS[(s + 3) % TAGS.length]]),
    lat, lng, geohash: encodeGeohash(lat, lng), elevation: 35 + s, producerUser: `user-${s % 3}`, producerClient: `client-${s}`,
  };
}

/** Series whose identity hash is kept during one call of syntheticRows; past that many it is computed per event. */
const KEPT_SERIES = 100_000;

/** Makes `count` realistic sensor events starting at index `from`, ordered by time. */
export function* syntheticRows(opts: SeedOptions, from: number, count: number): Generator<EventRow> {
  const metricCount = Math.max(1, opts.metrics ?? 5);
  const sourceCount = Math.max(1, opts.sources ?? 10);
  const interval = (opts.intervalMs ?? 100) * 1000;
  const start = seedStart(opts);
  const received = nowMicros();
  const rand = mulberry32(opts.datasetId * 7919 + from);
  // Sources and series repeat: what is theirs is made once, which leaves more of the CPU to the database.
  const sources = new Map<number, SourceParts>();
  const series = new Map<string, Buffer>();
  for (let i = from; i < from + count; i++) {
    const kind = METRIC_KINDS[i % Math.min(metricCount, METRIC_KINDS.length)];
    const metric = metricName(metricCount, i);
    const s = i % sourceCount;
    let value: unknown;
    if (rand() < 0.01) value = null;
    else if (kind.type === 'number') value = Math.round((20 + (rand() - 0.5) * 10) * 100) / 100;
    else if (kind.type === 'string') value = STATUSES[Math.floor(rand() * STATUSES.length)];
    else if (kind.type === 'bool') value = rand() < 0.5;
    else value = { battery: Math.round(rand() * 100), ok: rand() < 0.9 };
    let p = sources.get(s);
    if (!p) sources.set(s, (p = sourceParts(s)));
    const key = `${metric}\u0000${s}`;
    let hash = series.get(key);
    if (!hash) {
      hash = seriesHash(metric, p.source, p.producerUser, p.producerClient);
      if (series.size < KEPT_SERIES) series.set(key, hash);
    }
    const ts = start + i * interval;
    yield [
      opts.datasetId, ts, metric, typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : null,
      valueText(value), p.source, p.tags, p.lat, p.lng, p.geohash, p.elevation,
      p.producerUser, p.producerClient, received, identityOf(opts.datasetId, ts, hash),
    ];
  }
}

const LOAD_CHUNK = 100_000;

/**
 * Bulk-loads synthetic events. Seeding keeps ingest's rule: an event whose identity is stored replaces
 * it. When the dataset already holds events in the seeded time range, the hourly counts of that range
 * are counted again from the events afterwards, since some seeded events may have replaced others.
 */
export async function seedEvents(ds: DataSource, databaseUrl: string, opts: SeedOptions): Promise<number> {
  const first = seedStart(opts);
  const last = first + (opts.events - 1) * (opts.intervalMs ?? 100) * 1000;
  // Registered like an ingest, before any row is stamped (each chunk takes tsReceived when it is made),
  // so an incremental schedule's cutoff stays behind the seed's rows until the last chunk has committed.
  const write = await new OpenWrites(ds).begin();
  try {
    await seedRows(ds, databaseUrl, opts, first, last);
  } finally {
    await write.end();
  }
  return opts.events;
}

async function seedRows(ds: DataSource, databaseUrl: string, opts: SeedOptions, first: number, last: number): Promise<void> {
  const sqlite = ds.options.type === 'better-sqlite3';
  const overlaps = (await ds.query('SELECT 1 AS x FROM event WHERE dataset_id = ? AND ts >= ? AND ts <= ? LIMIT 1', [opts.datasetId, first, last])).length > 0;
  if (sqlite) {
    // better-sqlite3 is synchronous: one transaction of prepared inserts is the fastest path there is.
    const db = (ds.driver as unknown as { databaseConnection: import('better-sqlite3').Database }).databaseConnection;
    const stmt = db.prepare(upsertSql(1, true));
    const insertMany = db.transaction((from: number, count: number) => {
      for (const row of syntheticRows(opts, from, count)) stmt.run(row);
    });
    for (let from = 0; from < opts.events; from += 100_000) insertMany(from, Math.min(100_000, opts.events - from));
  } else {
    await loadDataInfile(databaseUrl, opts, overlaps);
  }
  if (overlaps) await recountHours(ds, opts.datasetId, first, last);
  else {
    const counts = new HourlyCounts();
    for (const [metric, ts] of syntheticKeys(opts)) counts.add(metric, ts);
    await counts.save(ds.manager, opts.datasetId);
  }
  // Metrics cycle with the row index, so the last rows name every metric at its newest timestamp.
  const tail = Math.min(opts.events, Math.max(opts.metrics ?? 5, METRIC_KINDS.length));
  const newest = [...syntheticRows(opts, opts.events - tail, tail)];
  await new DatasetService(ds).touchMetrics(opts.datasetId, lastUpdates(newest));
}

/** event_count of the hours from `fromTs` to `toTs` (µs) counted again from the events themselves. */
async function recountHours(ds: DataSource, datasetId: number, fromTs: number, toTs: number): Promise<void> {
  const firstHour = Math.floor(fromTs / MICROS_PER_HOUR);
  const lastHour = Math.floor(toTs / MICROS_PER_HOUR);
  const hour = ds.options.type === 'better-sqlite3' ? 'ts / 3600000000' : 'ts DIV 3600000000';
  await ds.transaction(async (m) => {
    await m.query('DELETE FROM event_count WHERE dataset_id = ? AND hour >= ? AND hour <= ?', [datasetId, firstHour, lastHour]);
    await m.query(
      `INSERT INTO event_count (dataset_id, metric, hour, n) SELECT dataset_id, metric, ${hour}, COUNT(*) FROM event WHERE dataset_id = ? AND ts >= ? AND ts < ? GROUP BY dataset_id, metric, ${hour}`,
      [datasetId, firstHour * MICROS_PER_HOUR, (lastHour + 1) * MICROS_PER_HOUR],
    );
  });
}

/** LOAD DATA's text format: tab-separated, \\N for NULL, backslash escapes. */
function tsvCell(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * MySQL/MariaDB bulk path: LOAD DATA LOCAL INFILE, in chunks so each transaction stays a manageable size.
 * The server parses the rows itself, far faster than INSERTs.
 *
 * One connection, one load at a time: a LOAD DATA holds the table's AUTO-INC lock until it ends (lock
 * mode 1), so a second load in parallel gains little, and a load waiting for that lock past
 * innodb_lock_wait_timeout fails with "Failed to read auto-increment value from storage engine" (the
 * likely cause of a 5M seed failing near 1M rows, when chunks slowed down as the identity index, then a
 * hash through and through, outgrew the buffer pool). The next chunk is made here while the server loads
 * the current one.
 */
async function loadDataInfile(databaseUrl: string, opts: SeedOptions, overlaps: boolean): Promise<void> {
  let loading: Buffer[] = [];
  const conn = await createConnection({ ...mysqlConnectionOptions(databaseUrl), infileStreamFactory: () => Readable.from(loading) });
  try {
    // Into a time range the dataset has no events in, no seeded identity can be stored already (each
    // seeded one is distinct), so the unique check is skipped there: it costs a random index read per row.
    if (!overlaps) await conn.query('SET SESSION unique_checks = 0');
    // REPLACE: an event whose identity is stored already replaces it, as on ingest.
    const load = `LOAD DATA LOCAL INFILE 'seed.tsv' REPLACE INTO TABLE event CHARACTER SET utf8mb4 (${EVENT_COLUMNS.join(',')})`;
    const chunkAt = (from: number) => (from < opts.events ? tsvChunk(opts, from, Math.min(LOAD_CHUNK, opts.events - from)) : Promise.resolve([]));
    let next = chunkAt(0);
    for (let from = 0; from < opts.events; from += LOAD_CHUNK) {
      loading = await next;
      const loaded = conn.query(load);
      next = chunkAt(from + LOAD_CHUNK);
      // A failed load ends the seed; the chunk being made meanwhile is simply dropped.
      next.catch(() => undefined);
      await loaded;
    }
  } finally {
    await conn.end();
  }
}

/** Rows `from` to `from + count` as TSV, made in slices with a turn between so the running load's stream keeps flowing. */
async function tsvChunk(opts: SeedOptions, from: number, count: number): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  let out = Buffer.allocUnsafe(SLICE_BYTES);
  let at = 0;
  for (const row of syntheticRows(opts, from, count)) {
    let text = '';
    for (let c = 0; c < ROW.identity; c++) text += `${tsvCell(row[c] as string | number | null)}\t`;
    if (at + text.length * 3 + IDENTITY_BYTES * 2 + 1 > out.length) {
      parts.push(out.subarray(0, at));
      out = Buffer.allocUnsafe(Math.max(SLICE_BYTES, text.length * 3 + IDENTITY_BYTES * 2 + 1));
      at = 0;
      await nextTurn();
    }
    at += out.write(text, at, 'utf8');
    at = writeBinaryCell(row[ROW.identity], out, at);
    out[at++] = 0x0a;
  }
  if (at) parts.push(out.subarray(0, at));
  return parts;
}

const SLICE_BYTES = 512 * 1024;
const BACKSLASH = 0x5c;
/** Bytes LOAD DATA reads as something else unless escaped, and the letter of their escape. */
const ESCAPED = new Map([[0x5c, 0x5c], [0x09, 0x74], [0x0a, 0x6e], [0x0d, 0x72], [0x00, 0x30]]);

/**
 * The identity as raw bytes, escaped like text: half the bytes of hex and no UNHEX per row for the
 * server, whose CPU is what a seed waits for. Returns the offset after it (at most 2 bytes per byte).
 */
function writeBinaryCell(value: Buffer, out: Buffer, at: number): number {
  for (const byte of value) {
    const letter = ESCAPED.get(byte);
    if (letter === undefined) out[at++] = byte;
    else {
      out[at++] = BACKSLASH;
      out[at++] = letter;
    }
  }
  return at;
}
