import { DataSource } from 'typeorm';
import { dataSourceOptions, MIGRATIONS } from '../../src/db/data-source';
import { Initial1763900000000 } from '../../src/db/migrations/1763900000000-initial';
import { EventCounts1763900000001 } from '../../src/db/migrations/1763900000001-event-counts';
import { identity128 } from '../../src/db/migrations/1764000000000-event-identity';
import { EventIdentityOrdered1764700000000 } from '../../src/db/migrations/1764700000000-event-identity-ordered';
import { eventIdentity } from '../../src/events/identity';
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

/**
 * A store made by the release before ordered identities: every migration up to the series index, events
 * stored with the 128-bit hash identity as that release's ingest wrote them (sources, producers, none).
 */
async function hashedIdentityStore(store: TestStore): Promise<void> {
  const ds = new DataSource({ ...dataSourceOptions(store.databaseUrl), entities: [], migrations: MIGRATIONS.filter((m) => m !== EventIdentityOrdered1764700000000) } as never);
  await ds.initialize();
  await ds.runMigrations();
  await ds.query('INSERT INTO dataset (id, name, description, created_on) VALUES (1, ?, NULL, ?), (2, ?, NULL, ?)', ['old', Date.now(), 'other', Date.now()]);
  const insert = 'INSERT INTO event (dataset_id, ts, metric, value_num, value_text, source, producer_user_id, producer_client_id, ts_received, identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  for (const e of OLD_EVENTS) {
    await ds.query(insert, [e.dataset, e.ts, e.metric, e.value, String(e.value), e.source, e.user, e.client, T0, identity128(e.dataset, e.ts, e.metric, e.source, e.user, e.client)]);
  }
  const hour = Math.floor(T0 / 3.6e9);
  await ds.query('INSERT INTO event_count (dataset_id, metric, hour, n) VALUES (1, ?, ?, 4), (2, ?, ?, 1)', ['temp::number', hour, 'temp::number', hour]);
  await ds.query('INSERT INTO dataset_metric (dataset_id, metric, last_update) VALUES (1, ?, ?), (2, ?, ?)', ['temp::number', T0 / 1000, 'temp::number', T0 / 1000]);
  await ds.destroy();
}

const OLD_EVENTS = [
  { dataset: 1, ts: T0, metric: 'temp::number', value: 1, source: 'hall', user: null, client: null },
  { dataset: 1, ts: T0, metric: 'temp::number', value: 2, source: null, user: null, client: null },
  { dataset: 1, ts: T0, metric: 'temp::number', value: 3, source: 'hall', user: 'u1', client: 'c1' },
  { dataset: 1, ts: T0 + 1, metric: 'temp::number', value: 4, source: 'hall', user: null, client: null },
  { dataset: 2, ts: T0, metric: 'temp::number', value: 5, source: 'hall', user: null, client: null },
];

describe(`a store with hashed identities migrates to ordered ones on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;

  beforeAll(async () => {
    await store.create();
    await hashedIdentityStore(store);
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('every identity is computed again, so re-posting an old event replaces it and counts nothing', async () => {
    const { token } = await store.cli<{ token: string }>(['user', 'create', '--email', 'old@example.com']); // runs the migrations
    await store.cli(['dataset', 'grant', '--dataset', '1', '--email', 'old@example.com', '--permission', 'WRITE']);
    const ds = new DataSource({ ...dataSourceOptions(store.databaseUrl), entities: [], migrations: [] } as never);
    await ds.initialize();
    try {
      const stored: { ts: number | string; source: string | null; producer_user_id: string | null; identity: Buffer }[] = await ds.query('SELECT ts, source, producer_user_id, identity FROM event ORDER BY id');
      expect(stored.map((r) => Buffer.from(r.identity).toString('hex'))).toEqual(OLD_EVENTS.map((e) => eventIdentity(e.dataset, e.ts, e.metric, e.source, e.user, e.client).toString('hex')));

      server = new TestServer(store);
      await server.start();
      const post = (events: unknown[]) => fetch(`${server.url}/api/v3/data/ingest/1?timestampPrecision=MICROSECONDS`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(events) });
      // Each old event of dataset 1 posted again, with a new value.
      const again = OLD_EVENTS.filter((e) => e.dataset === 1).map((e) => ({
        timestamp: e.ts, metric: e.metric, value: e.value * 10, ...(e.source ? { source: e.source } : {}), ...(e.user ? { producer: { userId: e.user, clientId: e.client } } : {}),
      }));
      expect((await post(again)).status).toBe(204);

      const rows: { dataset_id: number; value_text: string }[] = await ds.query('SELECT dataset_id, value_text FROM event ORDER BY id');
      expect(rows.map((r) => [Number(r.dataset_id), r.value_text])).toEqual([[1, '10'], [1, '20'], [1, '30'], [1, '40'], [2, '5']]);
      const counts: { dataset_id: number; n: number | string }[] = await ds.query('SELECT dataset_id, n FROM event_count ORDER BY dataset_id');
      expect(counts.map((c) => [Number(c.dataset_id), Number(c.n)])).toEqual([[1, 4], [2, 1]]);

      // A new event next to the old ones still counts.
      expect((await post([{ timestamp: T0 + 2, metric: 'temp::number', value: 6, source: 'hall' }])).status).toBe(204);
      const [{ n }] = await ds.query('SELECT n FROM event_count WHERE dataset_id = 1');
      expect(Number(n)).toBe(5);
    } finally {
      await ds.destroy();
    }
  });
});
