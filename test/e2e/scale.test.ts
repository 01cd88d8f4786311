import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';
import { mysqlConnectionOptions, sqliteFile } from '../../src/db/data-source';
import { csvWriter } from '../../src/exports/formats/csv';
import { buildExportQuery } from '../../src/exports/export-query';
import { DEFAULT_FIELDS, ExportParams } from '../../src/exports/params';
import { STORE, TestServer, TestStore, waitFor } from './harness';

/**
 * What this proves does not need millions: the estimate is exact from the hourly counts and fast, and the
 * one-hour range is served by the index (the plan is asserted), so its first rows come at once. 500 000
 * events keep CI short; `SCALE_EVENTS=5000000` runs the same assertions at the bench's size.
 */
const EVENTS = Number(process.env.SCALE_EVENTS ?? 500_000);
/** The window's last event: 40 % in, so that both its ends fall inside an hour. */
const WINDOW_END = EVENTS * 0.4 + 500;
const HOUR = 3_600_000;
/** Seeded from a fixed start (an hour boundary plus 123 ms), one event every 100 ms. */
const START = Math.floor(Date.UTC(2025, 0, 6) / HOUR) * HOUR + 123;
const at = (i: number) => START + i * 100;

describe(`${EVENTS.toLocaleString('en')} events on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS), '--start', String(START), '--interval', '100']);
    server = new TestServer(store);
    await server.start();
  }, 600_000);

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  const estimate = async (input: Record<string, unknown>) => {
    const started = Date.now();
    const d = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records bytes } }', { i: { dataRange: { datasets: dataset }, ...input } }, token);
    return { ...d.estimateExport, ms: Date.now() - started };
  };

  test('estimateExport answers in under a second, exactly where it can', async () => {
    const all = await estimate({});
    expect(all.records).toBe(EVENTS);
    expect(all.ms).toBeLessThan(1000);
    // A range with partial hours at both ends: events 1000 .. WINDOW_END - 1 inclusive.
    const window = await estimate({ from: at(1000) - 50, to: at(WINDOW_END) });
    expect(window.records).toBe(WINDOW_END - 1000);
    expect(window.ms).toBeLessThan(1000);
    const metric = await estimate({ dataRange: { datasets: dataset, metrics: ['door_open::boolean'] } });
    expect(metric.records).toBe(EVENTS / 5);
    // Sources cycle over ten sensors, so this filter keeps exactly a tenth.
    const filtered = await estimate({ filter: { source: { _eq: 'sensor-003' } } });
    expect(Math.abs(filtered.records - EVENTS / 10) / (EVENTS / 10)).toBeLessThan(0.05);
    expect(filtered.ms).toBeLessThan(1000);
    process.stdout.write(`[${STORE}] estimate of ${EVENTS}: ${all.ms} ms whole, ${window.ms} ms range, ${filtered.ms} ms filtered\n`);
  });

  test('a one-hour export streams at once: the index serves the range, first rows within a second', async () => {
    const from = at(EVENTS / 2);
    const params: ExportParams = {
      datasetIds: [Number(dataset)], metrics: null, timestampPrecision: 'MILLISECONDS', fields: DEFAULT_FIELDS, filter: null, from, to: from + HOUR,
      limit: null, header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 50_000_000,
    };
    const query = buildExportQuery(params, csvWriter(params).columns, STORE);
    let firstRowMs: number;
    if (STORE === 'mysql') {
      const conn = await createConnection(mysqlConnectionOptions(store.databaseUrl));
      try {
        const [plan] = (await conn.query(`EXPLAIN ${query.select}`, query.params)) as unknown as [any[]];
        expect(plan).toHaveLength(1);
        expect(plan[0]).toMatchObject({ table: 'event', type: 'range', key: 'idx_event_dataset_ts' });
        expect(Number(plan[0].key_len)).toBeGreaterThanOrEqual(12); // dataset_id (4) and ts (8): the range is on both
        expect(String(plan[0].Extra)).not.toMatch(/filesort/);
        const started = Date.now();
        firstRowMs = await new Promise<number>((resolve, reject) => {
          const q = (conn as any).connection.query({ sql: query.select, values: query.params, rowsAsArray: true });
          q.once('result', () => {
            resolve(Date.now() - started);
            (conn as any).connection.pause();
          });
          q.on('error', reject);
        });
      } finally {
        conn.destroy();
      }
    } else {
      const db = new Database(sqliteFile(store.databaseUrl), { readonly: true });
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${query.select}`).all(...query.params) as { detail: string }[];
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/SEARCH event USING INDEX idx_event_dataset_ts \(dataset_id=\? AND ts>\? AND ts<\?\)/);
      const started = Date.now();
      const rows = db.prepare(query.select).raw(true).iterate(...query.params);
      rows.next();
      firstRowMs = Date.now() - started;
      rows.return?.();
      db.close();
    }
    expect(firstRowMs).toBeLessThan(1000);

    const asked = Date.now();
    const created = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: dataset }, from, to: from + HOUR } }, token);
    const id = created.createExport.item.id;
    const firstProgress = await waitFor(async () => {
      const e = (await server.data('query($id: String!) { me { export(id: $id) { status { status recordsProcessed recordsEstimate } } } }', { id }, token)).me.export;
      return e.status.recordsProcessed > 0 || e.status.status === 'COMPLETED' ? Date.now() - asked : undefined;
    }, 'the first rows', 10_000, 20);
    const done = await waitFor(async () => {
      const e = (await server.data('query($id: String!) { me { export(id: $id) { status { status recordsProcessed recordsEstimate } } } }', { id }, token)).me.export;
      return e.status.status === 'COMPLETED' ? e : undefined;
    }, 'the export', 30_000);
    expect(done.status).toMatchObject({ recordsProcessed: 36_000, recordsEstimate: 36_000 });
    process.stdout.write(`[${STORE}] one hour of ${EVENTS}: first row of the query ${firstRowMs} ms, first progress seen ${firstProgress} ms after asking\n`);
    expect(firstProgress).toBeLessThan(1500);
  });
});
