import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/db/data-source';
import { Initial1763900000000 } from '../../src/db/migrations/1763900000000-initial';
import { EventCounts1763900000001 } from '../../src/db/migrations/1763900000001-event-counts';
import { parseCsv, STORE, TestServer, TestStore, waitForExport } from './harness';

const T0 = 1_700_000_000_000_000; // µs

/** A store made by the previous release: only its two migrations, events of type `boolean`, one stored twice. */
async function previousReleaseStore(store: TestStore): Promise<void> {
  const ds = new DataSource({ ...dataSourceOptions(store.databaseUrl), entities: [], migrations: [Initial1763900000000, EventCounts1763900000001] } as never);
  await ds.initialize();
  await ds.runMigrations();
  await ds.query('INSERT INTO dataset (id, name, description, created_on) VALUES (1, ?, NULL, ?)', ['old', Date.now()]);
  const insert = 'INSERT INTO event (dataset_id, ts, metric, value_num, value_text, source, ts_received) VALUES (?, ?, ?, ?, ?, ?, ?)';
  await ds.query(insert, [1, T0, 'door::boolean', 1, 'true', 'hall', T0]);
  await ds.query(insert, [1, T0 + 1000, 'door::boolean', 0, 'false', 'hall', T0]);
  await ds.query(insert, [1, T0 + 1000, 'door::boolean', 1, 'true', 'hall', T0 + 5]); // the same event again, written later
  await ds.query(insert, [1, T0 + 2000, 'temp::number', 20.5, '20.5', null, T0]);
  await ds.query(insert, [1, T0 + 2000, 'temp::number', 21.5, '21.5', null, T0 + 5]); // no source: still the same event
  await ds.query('INSERT INTO dataset_metric (dataset_id, metric, last_update) VALUES (1, ?, ?), (1, ?, ?)', ['door::boolean', T0 / 1000 + 1, 'temp::number', T0 / 1000 + 2]);
  await ds.query('INSERT INTO event_count (dataset_id, metric, hour, n) VALUES (1, ?, ?, 3), (1, ?, ?, 2)', ['door::boolean', Math.floor(T0 / 3.6e9), 'temp::number', Math.floor(T0 / 3.6e9)]);
  await ds.destroy();
}

describe(`a store of the previous release migrates on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;

  beforeAll(async () => {
    await store.create();
    await previousReleaseStore(store);
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('::boolean events become ::bool, an event stored twice keeps its latest copy, and the counts follow', async () => {
    const { token } = await store.cli<{ token: string }>(['user', 'create', '--email', 'old@example.com']); // runs the migrations
    await store.cli(['dataset', 'grant', '--dataset', '1', '--email', 'old@example.com', '--permission', 'WRITE']);
    server = new TestServer(store);
    await server.start();

    const metrics = (await server.data('{ dataset(id: "1") { metrics { id } } }', {}, token)).dataset.metrics.map((m: { id: string }) => m.id);
    expect(metrics).toEqual(['door::bool', 'temp::number']);
    const estimate = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: '1', metrics: ['door::boolean'] } } }, token);
    expect(estimate.estimateExport.records).toBe(2);

    const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: '1' }, timestampPrecision: 'MICROSECONDS' } }, token);
    await waitForExport(server, token, d.createExport.item.id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${d.createExport.item.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(parseCsv(await res.text()).slice(1)).toEqual([
      [`${T0}`, '1', 'door::bool', 'hall', 'true'],
      [`${T0 + 1000}`, '1', 'door::bool', 'hall', 'true'],
      [`${T0 + 2000}`, '1', 'temp::number', '', '21.5'],
    ]);

    // The migrated events keep their identity: re-posting one replaces it.
    const post = await fetch(`${server.url}/api/v3/data/ingest/1?timestampPrecision=MICROSECONDS`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify([{ timestamp: T0, metric: 'door::boolean', value: false, source: 'hall' }]),
    });
    expect(post.status).toBe(204);
    const after = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: '1' } } }, token);
    expect(after.estimateExport.records).toBe(3);
  });
});
