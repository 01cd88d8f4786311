import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import * as XLSX from 'xlsx';
import { STORE, TestServer, TestStore, waitForExport } from './harness';
import { unzip } from './unzip';

/**
 * Every format and the ZIP packaging through the real server, each file read back by a reader that is not
 * its writer: JSON.parse line by line, DuckDB for Parquet, SheetJS for XLSX, yauzl for ZIP.
 */
const T0 = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z
interface Event {
  timestamp: number; metric: string; value: unknown; source?: string | null; tags?: string[]; location?: { lat: number; lng: number };
  elevation?: number; producer?: { userId?: string; clientId?: string };
}
const EVENTS: Event[] = [
  { timestamp: T0, metric: 'temperature::number', value: 21.5, source: 'sensor-1', tags: ['indoor', 'a,b'], location: { lat: 48.8566, lng: 2.3522 }, elevation: 35, producer: { userId: 'u1', clientId: 'c1' } },
  { timestamp: T0 + 1, metric: 'temperature::number', value: 0.1 + 0.2, source: 'sensor-1', tags: [] },
  { timestamp: T0 + 2, metric: 'temperature::number', value: -1e21, producer: { clientId: 'c2' } },
  { timestamp: T0 + 3, metric: 'status::string', value: 'ok, "quoted" and\nnew line', source: 'sensor "two"' },
  { timestamp: T0 + 4, metric: 'status::string', value: 'température 🌡️ 東京 <&>', source: 'capteur-é' },
  { timestamp: T0 + 5, metric: 'status::string', value: '=SUM(A1:A2)' },
  { timestamp: T0 + 6, metric: 'door_open::boolean', value: true },
  { timestamp: T0 + 7, metric: 'door_open::boolean', value: false },
  { timestamp: T0 + 8, metric: 'reading::json', value: { a: { b: [1, 2.5, null] }, s: 'x,"y"' } },
  { timestamp: T0 + 9, metric: 'reading::json', value: [1, 'two', true] },
  { timestamp: T0 + 10, metric: 'temperature::number', value: null, source: null },
  { timestamp: T0 + 11, metric: 'status::string', value: '' },
  { timestamp: T0 + 12, metric: 'vector::number[]', value: [1, 2.5, -3] },
];
const ALL_FIELDS = ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'];
/** Stored and exported as `bool` (§11), whatever name it was ingested under. */
const stored = (metric: string) => metric.replace(/::boolean$/, '::bool');
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const valueText = (v: unknown) => (v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** fetch would decompress a gzip body by itself; this hands it over as sent. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe(`formats and packaging on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;
  let tmp: string;
  let duck: Awaited<ReturnType<DuckDBInstance['connect']>>;

  const create = async (input: Record<string, unknown>) => {
    const d = await server.data(
      `mutation($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id format packaging requestedOn } } }`,
      { input: { dataRange: { datasets: [dataset] }, ...input } },
      token,
    );
    return d.createExport as { responseCode: string; message: string | null; item: { id: string; format: string; packaging: string; requestedOn: number } | null };
  };
  const download = async (id: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity', ...headers } });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  };
  /** Creates, waits, downloads; checks size and sha256 against the result. */
  const exportFile = async (input: Record<string, unknown>) => {
    const created = await create(input);
    expect(created).toMatchObject({ responseCode: 'SUCCESS' });
    const done = await waitForExport(server, token, created.item!.id);
    const file = await download(created.item!.id);
    expect(file.status).toBe(200);
    return { ...created.item!, done, file };
  };

  beforeAll(async () => {
    await store.create();
    await store.cli(['migrate']);
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'formats@example.com'])).token;
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'formats', '--owner', 'formats@example.com'])).id;
    server = new TestServer(store);
    await server.start();
    const res = await fetch(`${server.url}/api/v3/data/ingest/${dataset}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(EVENTS),
    });
    expect(res.status).toBe(204);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-formats-'));
    duck = await (await DuckDBInstance.create(':memory:')).connect();
  });

  afterAll(async () => {
    duck?.closeSync();
    await server?.stop();
    await store.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('JSONL: one object per line, keys = the fields in order, typed values; served plain or as the stored gzip', async () => {
    const { id, done, file } = await exportFile({ name: 'lines', format: 'JSONL', fields: ALL_FIELDS, timestampPrecision: 'MICROSECONDS' });
    expect(file.headers.get('content-type')).toBe('application/x-ndjson');
    expect(file.headers.get('content-disposition')).toContain('filename="lines.jsonl"');
    expect(file.body.length).toBe(done.result.sizeInBytes);
    expect(sha256(file.body)).toBe(done.result.sha256);
    const text = file.body.toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(EVENTS.length);
    lines.forEach((line, n) => {
      const e = EVENTS[n];
      expect(Object.keys(line)).toEqual(ALL_FIELDS);
      expect(line).toMatchObject({
        timestamp: e.timestamp * 1000,
        dataset,
        metric: stored(e.metric),
        producer: e.producer ? { userId: e.producer.userId ?? null, clientId: e.producer.clientId ?? null } : null,
        source: e.source ?? null,
        value: e.value ?? null,
        tags: e.tags ?? null,
        location: e.location ?? null,
        elevation: e.elevation ?? null,
      });
      expect(typeof line.tsReceived).toBe('number');
      expect(line.geohash === null || typeof line.geohash === 'string').toBe(true);
    });
    expect(lines[0].geohash).toMatch(/^u09t/);

    const gz = await rawGet(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBe(done.result.compressedSizeInBytes);
    expect(zlib.gunzipSync(gz.body).equals(file.body)).toBe(true);

    const iso = await exportFile({ format: 'JSONL', fields: ['timestamp', 'value'], timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', to: T0 + 1 });
    expect(JSON.parse(iso.file.body.toString('utf8').trim())).toEqual({ timestamp: '2023-11-14T23:13:20.123+01:00', value: 21.5 });
  });

  test('PARQUET read back with DuckDB: §12 column types and every value; the same data gives the same file', async () => {
    const { done, file } = await exportFile({ name: 'typed', format: 'PARQUET', fields: ALL_FIELDS, timestampPrecision: 'MICROSECONDS' });
    expect(file.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    expect(file.headers.get('content-disposition')).toContain('filename="typed.parquet"');
    expect(file.headers.get('content-encoding')).toBeNull();
    expect(file.body.length).toBe(done.result.sizeInBytes);
    expect(file.body.length).toBe(done.result.compressedSizeInBytes);
    expect(sha256(file.body)).toBe(done.result.sha256);
    const at = path.join(tmp, 'typed.parquet');
    fs.writeFileSync(at, file.body);

    const types = (await duck.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${at}')`)).getRowObjectsJson();
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toEqual({
      timestamp: 'TIMESTAMP WITH TIME ZONE', dataset: 'VARCHAR', metric: 'VARCHAR', producer: 'STRUCT(userId VARCHAR, clientId VARCHAR)',
      source: 'VARCHAR', value: 'VARCHAR', tags: 'VARCHAR[]', location: 'STRUCT(lat DOUBLE, lng DOUBLE)', geohash: 'VARCHAR', elevation: 'DOUBLE',
      tsReceived: 'TIMESTAMP WITH TIME ZONE',
    });
    const meta = (await duck.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${at}')`)).getRowObjectsJson();
    expect(meta.map((m) => m.compression)).toEqual(['SNAPPY']);
    const rows = (await duck.runAndReadAll(
      `SELECT epoch_us(timestamp)::VARCHAR AS us, dataset, metric, producer, source, value, tags, location, geohash, elevation FROM read_parquet('${at}')`,
    )).getRowObjectsJson();
    expect(rows).toEqual(
      EVENTS.map((e) => ({
        us: String(e.timestamp * 1000), dataset, metric: stored(e.metric),
        producer: e.producer ? { userId: e.producer.userId ?? null, clientId: e.producer.clientId ?? null } : null,
        source: e.source ?? null, value: valueText(e.value), tags: e.tags ?? null, location: e.location ?? null,
        geohash: e.location ? expect.stringMatching(/^u09t/) : null, elevation: e.elevation ?? null,
      })),
    );

    const again = await exportFile({ name: 'typed', format: 'PARQUET', fields: ALL_FIELDS, timestampPrecision: 'MICROSECONDS' });
    expect(again.done.result.sha256).toBe(done.result.sha256);
  });

  test('PARQUET: value is DOUBLE when every metric is ::number; SECONDS kept as whole seconds in MILLIS', async () => {
    const { file } = await exportFile({ format: 'PARQUET', dataRange: { datasets: [dataset], metrics: ['*::number'] }, fields: ['timestamp', 'value'], timestampPrecision: 'SECONDS' });
    const at = path.join(tmp, 'numbers.parquet');
    fs.writeFileSync(at, file.body);
    const types = (await duck.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${at}')`)).getRowObjectsJson();
    expect(types.map((t) => [t.column_name, t.column_type])).toEqual([['timestamp', 'TIMESTAMP WITH TIME ZONE'], ['value', 'DOUBLE']]);
    const schema = (await duck.runAndReadAll(`SELECT name, logical_type::VARCHAR AS logical FROM parquet_schema('${at}') WHERE name = 'timestamp'`)).getRowObjectsJson();
    expect(String(schema[0].logical)).toMatch(/MILLIS/);
    const rows = (await duck.runAndReadAll(`SELECT epoch_ms(timestamp)::DOUBLE AS ms, value FROM read_parquet('${at}')`)).getRowObjectsJson();
    const numbers = EVENTS.filter((e) => e.metric === 'temperature::number');
    expect(rows).toEqual(numbers.map((e) => ({ ms: Math.floor(e.timestamp / 1000) * 1000, value: e.value })));
  });

  test('XLSX read with SheetJS: typed cells, text never a formula, dates in the zone, bold frozen header', async () => {
    const { done, file } = await exportFile({ name: 'book', format: 'XLSX', fields: ALL_FIELDS, timestampFormat: 'ISO8601', timeZone: 'Europe/Paris' });
    expect(file.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(file.headers.get('content-disposition')).toContain('filename="book.xlsx"');
    expect(sha256(file.body)).toBe(done.result.sha256);
    const book = XLSX.read(file.body, { cellDates: false, cellFormula: true, cellStyles: true });
    expect(book.SheetNames).toEqual(['events']);
    const sheet = book.Sheets.events;
    const header = ALL_FIELDS.map((_, c) => sheet[XLSX.utils.encode_cell({ r: 0, c })]);
    expect(header.map((h) => h.v)).toEqual(ALL_FIELDS);
    const cell = (r: number, field: string) => sheet[XLSX.utils.encode_cell({ r, c: ALL_FIELDS.indexOf(field) })] as XLSX.CellObject | undefined;
    EVENTS.forEach((e, n) => {
      const r = n + 1;
      // the wall time in Paris (UTC+1 in November) as a real date-time cell
      const ts = cell(r, 'timestamp')!;
      expect(ts.t).toBe('n');
      expect(ts.z).toBe('yyyy-mm-dd hh:mm:ss.000');
      expect(Math.round((Number(ts.v) - 25569) * 86_400_000)).toBe(e.timestamp + 3_600_000);
      expect(cell(r, 'dataset')).toMatchObject({ t: 's', v: dataset });
      expect(cell(r, 'metric')).toMatchObject({ t: 's', v: stored(e.metric) });
      const value = cell(r, 'value');
      if (e.value === null) expect(value?.v ?? null).toBeNull();
      else if (typeof e.value === 'number') expect(value).toMatchObject({ t: 'n', v: e.value });
      else if (typeof e.value === 'boolean') expect(value).toMatchObject({ t: 'b', v: e.value });
      else expect(value).toMatchObject({ t: 's', v: valueText(e.value) });
      expect(value?.f).toBeUndefined();
      if (e.elevation !== undefined) expect(cell(r, 'elevation')).toMatchObject({ t: 'n', v: e.elevation });
      if (e.tags) expect(cell(r, 'tags')).toMatchObject({ t: 's', v: JSON.stringify(e.tags) });
      if (e.location) expect(cell(r, 'location')).toMatchObject({ t: 's', v: JSON.stringify(e.location) });
      expect(cell(r, 'source')?.v ?? null).toBe(e.source ?? null);
    });
    const parts = await unzip(file.body);
    const sheetXml = parts.get('xl/worksheets/sheet1.xml')!.data.toString('utf8');
    expect(sheetXml).toContain('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>');
    expect(sheetXml).not.toContain('<f>');
    expect(parts.get('xl/styles.xml')!.data.toString('utf8')).toContain('<font><b/>');
    expect([...parts.keys()].some((k) => k.startsWith('docProps/'))).toBe(false);

    const again = await exportFile({ name: 'book', format: 'XLSX', fields: ALL_FIELDS, timestampFormat: 'ISO8601', timeZone: 'Europe/Paris' });
    expect(again.done.result.sha256).toBe(done.result.sha256);
  });

  test('XLSX without header: no header row, no frozen pane; EPOCH timestamps are numbers', async () => {
    const { file } = await exportFile({ format: 'XLSX', fields: ['timestamp', 'value'], header: false, to: T0 + 1 });
    const sheet = XLSX.read(file.body).Sheets.events;
    expect(sheet.A1).toMatchObject({ t: 'n', v: T0 });
    expect(sheet.B1).toMatchObject({ t: 'n', v: 21.5 });
    expect(sheet.A2).toBeUndefined();
    expect((await unzip(file.body)).get('xl/worksheets/sheet1.xml')!.data.toString('utf8')).not.toContain('frozen');
  });

  test.each(['CSV', 'JSONL', 'PARQUET', 'XLSX'])('ZIP of %s: events.<ext> and a manifest whose sha256 is the entry\'s; entry times = requestedOn', async (format) => {
    const ext = { CSV: 'csv', JSONL: 'jsonl', PARQUET: 'parquet', XLSX: 'xlsx' }[format]!;
    const { id, requestedOn, done, file, packaging } = await exportFile({ name: `packed ${format}`, format, packaging: 'ZIP', limit: 5 });
    expect(packaging).toBe('ZIP');
    expect(file.headers.get('content-type')).toBe('application/zip');
    expect(file.headers.get('content-disposition')).toContain(`filename="packed ${format}.zip"`);
    expect(file.body.length).toBe(done.result.compressedSizeInBytes);
    const entries = await unzip(file.body);
    expect([...entries.keys()]).toEqual([`events.${ext}`, 'manifest.json']);
    const data = entries.get(`events.${ext}`)!;
    const manifest = JSON.parse(entries.get('manifest.json')!.data.toString('utf8'));
    expect(manifest).toMatchObject({
      id, name: `packed ${format}`, format, requestedOn, completedOn: done.result.completedOn, records: 5, truncated: false,
      sha256: sha256(data.data), sizeInBytes: data.data.length,
      request: { dataRange: { datasets: [dataset], metrics: null }, format, packaging: 'ZIP', limit: 5, fields: ['timestamp', 'dataset', 'metric', 'source', 'value'] },
    });
    expect(done.result.sha256).toBe(manifest.sha256);
    expect(done.result.sizeInBytes).toBe(data.data.length);
    for (const entry of entries.values()) expect(Math.abs(entry.modified.getTime() - requestedOn)).toBeLessThanOrEqual(2000);
    // the text formats are deflated in the ZIP; Parquet and XLSX compress themselves
    expect(data.compressed).toBe(format === 'CSV' || format === 'JSONL');

    // the entry is the same data file as the unpacked export
    const plain = await exportFile({ name: `packed ${format}`, format, limit: 5 });
    expect(plain.done.result.sha256).toBe(manifest.sha256);
  });

  test('options where they do not apply are BAD_REQUEST naming them; estimates per format', async () => {
    const refused = [
      [{ format: 'JSONL', excelSafe: true }, /excelSafe: true.*format JSONL/],
      [{ format: 'XLSX', excelSafe: true }, /excelSafe: true.*format XLSX/],
      [{ format: 'PARQUET', timestampFormat: 'ISO8601' }, /timestampFormat: ISO8601.*format PARQUET/],
      [{ format: 'PARQUET', timeZone: 'Europe/Paris' }, /timeZone: "Europe\/Paris".*format PARQUET/],
    ] as const;
    for (const [input, message] of refused) {
      const res = await create(input);
      expect(res.responseCode).toBe('BAD_REQUEST');
      expect(res.message).toMatch(message);
    }
    const ok = await create({ format: 'CSV', excelSafe: true, packaging: 'ZIP' });
    expect(ok.item).toMatchObject({ format: 'CSV', packaging: 'ZIP' });
    await waitForExport(server, token, ok.item!.id);
    const unknown = await server.gql(`mutation { createExport(input: { dataRange: { datasets: ["${dataset}"] }, format: PDF }) { responseCode } }`, {}, token);
    expect(unknown.body.errors?.[0].message).toMatch(/PDF/);

    const bytes: Record<string, number> = {};
    for (const format of ['CSV', 'JSONL', 'PARQUET', 'XLSX']) {
      const d = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records bytes } }', { i: { dataRange: { datasets: [dataset] }, format } }, token);
      expect(d.estimateExport.records).toBe(EVENTS.length);
      bytes[format] = d.estimateExport.bytes;
    }
    expect(bytes.JSONL).toBeGreaterThan(bytes.CSV);
    expect(bytes.PARQUET).toBeLessThan(bytes.CSV);
  });
});
