import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/db/data-source';
import { parseCsv, STORE, TestServer, TestStore, waitForExport } from './harness';

const T0 = 1_700_000_000_000; // ms
const POSTS = 10;

/** 1 000 distinct events: 5 metrics × 10 sources × 20 instants six minutes apart, so over several hours. */
const EVENTS = Array.from({ length: 1000 }, (_, i) => ({
  timestamp: T0 + Math.floor(i / 50) * 360_000,
  metric: `m${i % 5}::number`,
  source: `s${Math.floor(i / 5) % 10}`,
  value: i,
}));

/**
 * The same new events posted many times at once, as retrying producers do: each is stored once, counted
 * once in the hourly counts estimates read, and exported once. On MariaDB the posts go through two
 * servers, so they are concurrent transactions of two processes; SQLite has one writer at a time anyway.
 */
describe(`concurrent first ingests of the same events on ${STORE}`, () => {
  const store = new TestStore();
  const servers: TestServer[] = [];
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    ({ token } = await store.cli<{ token: string }>(['user', 'create', '--email', 'twice@example.com']));
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'twice', '--owner', 'twice@example.com'])).id;
    for (let i = 0; i < (STORE === 'mysql' ? 2 : 1); i++) {
      const server = new TestServer(store);
      servers.push(server);
      await server.start();
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await store.drop();
  });

  test(`${POSTS} parallel POSTs of the same 1 000 events: stored, counted and exported once each`, async () => {
    // Half of them list the events the other way round, as two producers sending one batch might.
    const bodies = [JSON.stringify(EVENTS), JSON.stringify([...EVENTS].reverse())];
    const statuses = await Promise.all(
      Array.from({ length: POSTS }, async (_, i) => {
        const res = await fetch(`${servers[i % servers.length].url}/api/v3/data/ingest/${dataset}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: bodies[i % 2] });
        return res.status === 204 ? 204 : `${res.status} ${await res.text()}`;
      }),
    );
    expect(statuses).toEqual(Array(POSTS).fill(204));

    const ds = new DataSource({ ...dataSourceOptions(store.databaseUrl), entities: [], migrations: [] } as never);
    await ds.initialize();
    try {
      const [{ n }] = await ds.query('SELECT COUNT(*) AS n FROM event WHERE dataset_id = ?', [dataset]);
      expect(Number(n)).toBe(EVENTS.length);
      // Hour by hour and metric by metric, the counts are what the events are.
      const hour = STORE === 'mysql' ? 'ts DIV 3600000000' : 'ts / 3600000000';
      const counted: { metric: string; hour: number | string; n: number | string }[] = await ds.query('SELECT metric, hour, n FROM event_count WHERE dataset_id = ? ORDER BY metric, hour', [dataset]);
      const actual: { metric: string; hour: number | string; n: number | string }[] = await ds.query(`SELECT metric, ${hour} AS hour, COUNT(*) AS n FROM event WHERE dataset_id = ? GROUP BY metric, ${hour} ORDER BY metric, hour`, [dataset]);
      const plain = (rows: typeof counted) => rows.map((r) => [r.metric, Number(r.hour), Number(r.n)]);
      expect(plain(counted)).toEqual(plain(actual));
      expect(plain(counted).reduce((sum, r) => sum + (r[2] as number), 0)).toBe(EVENTS.length);
    } finally {
      await ds.destroy();
    }

    const server = servers[0];
    const estimate = await server.data('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: dataset } } }, token);
    expect(estimate.estimateExport.records).toBe(EVENTS.length);
    const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: dataset }, timestampPrecision: 'MILLISECONDS' } }, token);
    await waitForExport(server, token, d.createExport.item.id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${d.createExport.item.id}`, { headers: { authorization: `Bearer ${token}` } });
    const rows = parseCsv(await res.text()).slice(1);
    expect(rows).toHaveLength(EVENTS.length);
    expect(new Set(rows.map(([ts, , metric, source]) => `${ts} ${metric} ${source}`)).size).toBe(EVENTS.length);
  });
});
