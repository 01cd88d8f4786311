import { TestServer, TestStore, TestWorker, waitFor } from '../e2e/harness';
import { createUsers, download, exportRows, observed, Processes, sha256, sql } from './support';

const USERS = 50;
const LIMIT = 2;
const ASKS_PER_USER = LIMIT + 2;
const EVENTS = 5_000;
const DOWNLOADS = 200;

/** Many users at once through two servers: the limits hold, nothing errors, every byte is right. */
describe('load: 50 users, 200 downloads (MariaDB, 2 servers + 2 workers)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let servers: TestServer[];
  let workers: TestWorker[] = [];
  let users: { id: string; email: string; token: string }[];
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    users = await createUsers(store, Array.from({ length: USERS }, (_, i) => `user${i}@example.com`));
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'shared', '--owner', 'user0@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS)]);
    const env = { EXPORT_WORKERS: '0', MAX_DATA_EXPORTS: String(LIMIT) };
    servers = await Promise.all([procs.server(store, env), procs.server(store, env)]);
    for (const u of users.slice(1)) {
      const res = await servers[0].data('mutation($d: String!, $e: String!) { onDataset(id: $d) { addMember(email: $e, permission: READ) { responseCode } } }', { d: dataset, e: u.email }, users[0].token);
      expect(res.onDataset.addMember.responseCode).toBe('SUCCESS');
    }
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test(`${USERS} users ask for ${ASKS_PER_USER} exports each, all at once, on both servers: no errors, exactly ${LIMIT} each get through`, async () => {
    // No worker yet, so nothing finishes (and frees a slot) while the requests race: the limit alone decides.
    const t0 = Date.now();
    const answers = await Promise.all(
      users.flatMap((u, i) =>
        Array.from({ length: ASKS_PER_USER }, async (_, k) => {
          const server = servers[(i + k) % 2];
          const res = await server.gql('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }', { i: { name: `load-${i}-${k}`, dataRange: { datasets: [dataset] } } }, u.token);
          return { user: u.id, status: res.status, errors: res.body.errors, envelope: res.body.data?.createExport };
        }),
      ),
    );
    const createMs = Date.now() - t0;
    expect(answers.filter((a) => a.status !== 200 || a.errors)).toEqual([]);
    for (const u of users) {
      const own = answers.filter((a) => a.user === u.id).map((a) => a.envelope);
      expect(own.filter((e) => e.responseCode === 'SUCCESS')).toHaveLength(LIMIT);
      const refused = own.filter((e) => e.responseCode !== 'SUCCESS');
      expect(refused).toHaveLength(ASKS_PER_USER - LIMIT);
      for (const r of refused) expect(r).toMatchObject({ responseCode: 'LIMIT_REACHED', message: expect.stringContaining(`the limit is ${LIMIT} (maxDataExports)`) });
    }
    const perUser = await sql<{ n: number }>(store.databaseUrl, 'SELECT COUNT(*) AS n FROM data_export GROUP BY user_id');
    expect(perUser.map((r) => Number(r.n))).toEqual(users.map(() => LIMIT));

    workers = await Promise.all([procs.worker(store, { EXPORT_CONCURRENCY: '4' }), procs.worker(store, { EXPORT_CONCURRENCY: '4' })]);
    const t1 = Date.now();
    await waitFor(
      async () => {
        const rows = await sql<{ status: string; n: number }>(store.databaseUrl, 'SELECT status, COUNT(*) AS n FROM data_export GROUP BY status');
        if (rows.some((r) => ['FAILED', 'CANCELLED'].includes(r.status))) throw new Error(`exports ended badly: ${JSON.stringify(rows)}`);
        return rows.length === 1 && rows[0].status === 'COMPLETED' && Number(rows[0].n) === USERS * LIMIT;
      },
      'every export to complete',
      200_000,
      250,
    );
    observed('load: create', { requests: answers.length, createMs, accepted: USERS * LIMIT, refused: answers.length - USERS * LIMIT, generateAllMs: Date.now() - t1 });
  }, 240_000);

  test(`${DOWNLOADS} concurrent downloads through both servers: every one 200 and byte-exact`, async () => {
    const rows = await exportRows(store);
    const tokenOf = new Map(users.map((u) => [u.id, u.token]));
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: DOWNLOADS }, async (_, i) => {
        const row = rows[i % rows.length];
        const res = await download(servers[i % 2], tokenOf.get(row.user_id) as string, row.id, i % 4 < 2);
        return { id: row.id, status: res.status, ok: sha256(res.csv) === row.sha256, encoding: res.encoding ?? 'identity' };
      }),
    );
    const ms = Date.now() - t0;
    expect(results.filter((r) => r.status !== 200 || !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => r.encoding))).toEqual(new Set(['gzip', 'identity']));
    // Nothing unexpected was logged anywhere (pino level 50 = error).
    const logs = [...servers.map((s) => s.logs), ...workers.map((w) => w.logs)].join('\n');
    expect(logs.split('\n').filter((l) => l.includes('"level":50'))).toEqual([]);
    observed('load: downloads', { downloads: results.length, distinctExports: new Set(results.map((r) => r.id)).size, ms, allByteExact: results.every((r) => r.ok) });
  });
});
