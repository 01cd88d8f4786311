import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import * as XLSX from 'xlsx';
import { parseCsv, STORE, TestServer, TestStore, waitForExport } from './harness';
import { unzip } from './unzip';

/**
 * `latest: true` and `order: DESC` in every format and in ZIP packaging, each file read back by a reader
 * that is not its writer (JSON.parse, DuckDB, SheetJS, yauzl), against what the test computes from the
 * events it ingested: rows, their order, their identity; `limit` with DESC keeps the newest; re-runs
 * give the same bytes.
 */
const T0 = 1_735_689_600_000; // 2025-01-01T00:00:00Z in ms
interface Event { timestamp: number; metric: string; value: number | string; source?: string; producer?: { userId: string; clientId: string } }
/** One row as every reader gives it back: timestamp (ms), dataset, metric, source, value as text. */
type Row = [number, string, string, string | null, string | null];

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const text = (v: unknown) => (v === null || v === undefined || v === '' ? null : String(v));
const rowOf = (r: unknown[]): Row => [Number(r[0]), String(r[1]), String(r[2]), text(r[3]), text(r[4])];

const jsonlRows = (bytes: Buffer): Row[] =>
  bytes.toString('utf8').split('\n').filter(Boolean).map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    return rowOf([o.timestamp, o.dataset, o.metric, o.source, o.value]);
  });

const xlsxRows = (bytes: Buffer): Row[] => {
  const book = XLSX.read(bytes);
  const sheet = book.Sheets[book.SheetNames[0]];
  const [header, ...rows] = XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1, defval: null, raw: true });
  expect(header).toEqual(['timestamp', 'dataset', 'metric', 'source', 'value']);
  return rows.map(rowOf);
};

const csvRows = (bytes: Buffer): Row[] => {
  const [header, ...rows] = parseCsv(bytes.toString('utf8'));
  expect(header).toEqual(['timestamp', 'dataset', 'metric', 'source', 'value']);
  return rows.map(rowOf);
};

describe(`latest and newest-first in every format on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let d1: string;
  let d2: string;
  let tmp: string;
  let duck: Awaited<ReturnType<DuckDBInstance['connect']>>;
  /** What was ingested, in order of writing (no identity is written twice here). */
  const written: { dataset: string; e: Event; seq: number }[] = [];

  const parquetRows = async (bytes: Buffer): Promise<Row[]> => {
    const at = path.join(tmp, `${sha256(bytes)}.parquet`);
    fs.writeFileSync(at, bytes);
    const rows = (await duck.runAndReadAll(`SELECT epoch_ms(timestamp)::DOUBLE AS ms, dataset, metric, source, value FROM read_parquet('${at}')`)).getRowObjectsJson();
    return rows.map((r) => rowOf([r.ms, r.dataset, r.metric, r.source, r.value]));
  };

  /** Reads a downloaded file back, and for a ZIP the bytes of its events entry (what re-runs must repeat). */
  const readers: Record<string, (bytes: Buffer) => Promise<{ rows: Row[]; data: Buffer }>> = {
    JSONL: async (b) => ({ rows: jsonlRows(b), data: b }),
    PARQUET: async (b) => ({ rows: await parquetRows(b), data: b }),
    XLSX: async (b) => ({ rows: xlsxRows(b), data: b }),
    ...Object.fromEntries(
      ([['CSV', 'csv', async (b: Buffer) => csvRows(b)], ['JSONL', 'jsonl', async (b: Buffer) => jsonlRows(b)], ['PARQUET', 'parquet', parquetRows], ['XLSX', 'xlsx', async (b: Buffer) => xlsxRows(b)]] as const).map(
        ([format, ext, rowsOf]) => [`ZIP of ${format}`, async (b: Buffer) => {
          const entries = await unzip(b);
          expect([...entries.keys()]).toEqual([`events.${ext}`, 'manifest.json']);
          const data = entries.get(`events.${ext}`)!.data;
          return { rows: await rowsOf(data), data };
        }],
      ),
    ),
  };
  const inputOf: Record<string, Record<string, unknown>> = {
    JSONL: { format: 'JSONL' }, PARQUET: { format: 'PARQUET' }, XLSX: { format: 'XLSX' },
    ...Object.fromEntries(['CSV', 'JSONL', 'PARQUET', 'XLSX'].map((format) => [`ZIP of ${format}`, { format, packaging: 'ZIP' }])),
  };

  const run = async (kind: string, input: Record<string, unknown>) => {
    const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id latest order } } }', {
      i: { dataRange: { datasets: [d1, d2] }, timestampPrecision: 'MILLISECONDS', ...inputOf[kind], ...input },
    }, token);
    if (d.createExport.responseCode !== 'SUCCESS') throw new Error(`${d.createExport.responseCode}: ${d.createExport.message}`);
    const done = await waitForExport(server, token, d.createExport.item.id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${d.createExport.item.id}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const read = await readers[kind](bytes);
    expect(sha256(read.data)).toBe(done.result.sha256);
    return { item: d.createExport.item as { id: string; latest: boolean; order: string }, done, ...read };
  };

  const ingest = async (dataset: string, events: Event[]) => {
    const res = await fetch(`${server.url}/api/v3/data/ingest/${dataset}`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(events),
    });
    expect(res.status).toBe(204);
    for (const e of events) written.push({ dataset, e, seq: written.length });
  };

  const asRow = (w: { dataset: string; e: Event }): Row => [w.e.timestamp, w.dataset, w.e.metric, w.e.source ?? null, text(w.e.value)];
  /** Newest first; events at the same time in reverse order of writing (the ASC tie-break reversed). */
  const newestFirst = () => [...written].sort((a, b) => b.e.timestamp - a.e.timestamp || b.seq - a.seq).map(asRow);
  /** The newest event of each dataset, source and metric, in series order (dataset, missing source first, source, metric). */
  const latest = () => {
    const newest = new Map<string, (typeof written)[number]>();
    for (const w of written) {
      const key = JSON.stringify([w.dataset, w.e.source ?? null, w.e.metric]);
      const seen = newest.get(key);
      if (!seen || w.e.timestamp > seen.e.timestamp || (w.e.timestamp === seen.e.timestamp && w.seq > seen.seq)) newest.set(key, w);
    }
    return [...newest.values()]
      .sort((a, b) => Number(a.dataset) - Number(b.dataset)
        || (a.e.source === b.e.source ? 0 : a.e.source === undefined ? -1 : b.e.source === undefined ? 1 : a.e.source < b.e.source ? -1 : 1)
        || (a.e.metric < b.e.metric ? -1 : a.e.metric > b.e.metric ? 1 : 0))
      .map(asRow);
  };

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    d1 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd1', '--owner', 'ana@example.com'])).id;
    d2 = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd2', '--owner', 'ana@example.com'])).id;
    server = new TestServer(store);
    await server.start();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-latest-formats-'));
    duck = await (await DuckDBInstance.create(':memory:')).connect();
    // The newest of a series not last in the request, a missing source, a tie at one time (two producers,
    // the later write wins for latest), sources that sort differently by case and beyond ASCII.
    await ingest(d1, [
      { timestamp: T0 + 5000, metric: 'temp::number', value: 20.5, source: 'north' },
      { timestamp: T0 + 9000, metric: 'temp::number', value: 22, source: 'north' },
      { timestamp: T0 + 7000, metric: 'temp::number', value: 21, source: 'north' },
      { timestamp: T0 + 3000, metric: 'status::string', value: 'ok', source: 'north' },
      { timestamp: T0 + 8000, metric: 'status::string', value: 'degraded, "hot"', source: 'north' },
      { timestamp: T0 + 4000, metric: 'temp::number', value: 18 },
      { timestamp: T0 + 6000, metric: 'temp::number', value: 19 },
      { timestamp: T0 + 10000, metric: 'temp::number', value: 16, source: 'Zed', producer: { userId: 'u1', clientId: 'a' } },
      { timestamp: T0 + 10000, metric: 'temp::number', value: 17, source: 'Zed', producer: { userId: 'u1', clientId: 'b' } },
      { timestamp: T0 + 1000, metric: 'status::string', value: 'froid', source: 'été' },
      { timestamp: T0 + 11000, metric: 'temp::number', value: -3.25, source: 'été' },
    ]);
    await ingest(d2, [
      { timestamp: T0 + 4500, metric: 'temp::number', value: 10, source: 'north' },
      { timestamp: T0 + 13000, metric: 'temp::number', value: 11, source: 'north' },
      { timestamp: T0 + 5500, metric: 'status::string', value: 'fine' },
    ]);
  });

  afterAll(async () => {
    duck?.closeSync();
    await server?.stop();
    await store.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the model itself: spot checks, so a wrong model cannot pass unnoticed', () => {
    expect(latest().find((r) => r[1] === d1 && r[3] === 'Zed')?.[4]).toBe('17');
    expect(latest()[0]).toEqual([T0 + 6000, d1, 'temp::number', null, '19']);
    expect(newestFirst()[0]).toEqual([T0 + 13000, d2, 'temp::number', 'north', '11']);
    expect(newestFirst().filter((r) => r[3] === 'Zed').map((r) => r[4])).toEqual(['17', '16']);
  });

  test.each(Object.keys(readers))('%s: latest: true gives the newest event of each series, in series order; a re-run is byte-identical', async (kind) => {
    const first = await run(kind, { latest: true });
    expect(first.item).toMatchObject({ latest: true, order: 'ASC' });
    expect(first.rows).toEqual(latest());
    expect(first.done.status.recordsProcessed).toBe(latest().length);
    const again = await run(kind, { latest: true });
    expect(again.rows).toEqual(first.rows);
    expect(sha256(again.data)).toBe(sha256(first.data));
  });

  test.each(Object.keys(readers))('%s: order: DESC is newest first (ties reversed); limit keeps the newest N; a re-run is byte-identical', async (kind) => {
    const desc = await run(kind, { order: 'DESC' });
    expect(desc.item).toMatchObject({ latest: false, order: 'DESC' });
    expect(desc.rows).toEqual(newestFirst());
    const newest = await run(kind, { order: 'DESC', limit: 4 });
    expect(newest.rows).toEqual(newestFirst().slice(0, 4));
    expect(newest.done.result.truncated).toBe(false);
    const again = await run(kind, { order: 'DESC', limit: 4 });
    expect(sha256(again.data)).toBe(sha256(newest.data));
  });
});
