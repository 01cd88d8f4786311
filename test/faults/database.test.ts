import { TestServer, TestStore, TestWorker, waitFor, waitForExport } from '../e2e/harness';
import { download, exportId, exportRow, HEAVY, killRunnerConnection, observed, Processes, sha256, TcpProxy, tmpFiles, waitUntilWriting } from './support';

const EVENTS = 200_000;

/** The database misbehaves: connections killed under a running export, the database gone or hanging under a server. */
describe('database faults (MariaDB)', () => {
  const store = new TestStore('mysql');
  const dbName = new URL(store.databaseUrl).pathname.slice(1);
  const procs = new Processes();
  const proxy = new TcpProxy();
  let server: TestServer;
  let worker: TestWorker;
  let token: string;
  let input: Record<string, unknown>;
  let cleanSha: string;

  beforeAll(async () => {
    await store.create();
    const seeded = await store.seededUser('ana@example.com', EVENTS);
    token = seeded.token;
    const dataset = seeded.dataset;
    input = { dataRange: { datasets: [dataset] }, ...HEAVY };
    server = await procs.server(store, { EXPORT_WORKERS: '0' });
    worker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    cleanSha = (await waitForExport(server, token, await exportId(server, token, input))).result.sha256;
  });

  afterAll(async () => {
    await proxy.down();
    await procs.killAll();
    await store.drop();
  });

  test("the export's connection killed mid-run (KILL <id>): handed back and retried, the export completes with the right rows", async () => {
    const id = await exportId(server, token, input);
    const before = await waitUntilWriting(store, id, 1);
    const killedAt = await killRunnerConnection(store);
    const interrupted = await waitFor(async () => worker.lines(/transient fault/).find((l) => l.export === id), 'the worker to see the fault', 10_000);
    const done = await waitForExport(server, token, id, ['COMPLETED'], 60_000);
    const row = await exportRow(store, id);
    observed('KILL mid-export', { processedWhenKilled: before.records_processed, code: interrupted.code, retryStartedAfterKillMs: (row.started_on as number) - killedAt, attempt: row.attempt });
    expect(interrupted.code).toMatch(/PROTOCOL_CONNECTION_LOST|ER_CONNECTION_KILLED|ECONNRESET/);
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 2, message: null, file_name: `${id}.2.csv.gz` });
    expect(done.status.recordsProcessed).toBe(EVENTS);
    expect(done.result.sha256).toBe(cleanSha);
    expect(sha256((await download(server, token, id, true)).csv)).toBe(cleanSha);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
  });

  test('killed on every attempt: FAILED after 3 attempts with a message saying why, never left GENERATING', async () => {
    const id = await exportId(server, token, input);
    const left: number[] = [];
    for (const [attempt, how] of [[1, 'KILL'], [2, 'KILL QUERY'], [3, 'KILL']] as const) {
      await waitUntilWriting(store, id, attempt, 20_000);
      const killedAt = await killRunnerConnection(store, how);
      // out of GENERATING on that attempt: handed back (and claimed again) or FAILED
      await waitFor(async () => {
        const row = await exportRow(store, id);
        return !(row.status === 'GENERATING' && row.attempt === attempt);
      }, `attempt ${attempt} to end`, 10_000, 20);
      left.push(Date.now() - killedAt);
    }
    const failed = await waitForExport(server, token, id, ['FAILED'], 10_000);
    const row = await exportRow(store, id);
    observed('KILL on every attempt', { attempts: row.attempt, leftGeneratingAfterMs: left, message: failed.status.message });
    expect(row).toMatchObject({ status: 'FAILED', attempt: 3, lease_owner: null });
    expect(failed.status.message).toMatch(/^export failed after 3 faulty attempts: the database (killed the connection|connection was lost)/);
    expect(worker.lines(/transient fault/).filter((l) => l.export === id).map((l) => l.code)).toEqual([expect.any(String), 'ER_QUERY_INTERRUPTED']);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    // The worker goes on with other work.
    await waitForExport(server, token, await exportId(server, token, { ...input, limit: 1000 }));
  });

  test('/readyz is 503 within about 2 s while the database is down or hanging, and recovers by itself', async () => {
    await proxy.up();
    const behindProxy = await procs.server(store, { EXPORT_WORKERS: '0', DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}/${dbName}` });
    const probe = async () => {
      const t = Date.now();
      const res = await fetch(`${behindProxy.url}/readyz`);
      return { status: res.status, ms: Date.now() - t, body: (await res.json()) as any };
    };
    expect((await probe()).status).toBe(200);

    await proxy.down();
    const down = [await probe(), await probe(), await probe()];
    expect(down.map((p) => p.status)).toEqual([503, 503, 503]);
    for (const p of down) expect(p.ms).toBeLessThan(2_500);
    expect(down[0].body.error.message).toMatch(/^not ready: /);
    expect((await fetch(`${behindProxy.url}/healthz`)).status).toBe(200); // the process itself is fine
    await proxy.up();
    const upAt = Date.now();
    await waitFor(async () => (await probe()).status === 200, 'ready again after the database came back', 20_000, 200);
    const recoveredMs = Date.now() - upAt;
    const me = await behindProxy.data('{ me { email } }', {}, token);
    expect(me.me.email).toBe('ana@example.com');

    proxy.hang();
    const hung = await Promise.all([probe(), probe(), probe(), probe(), probe()]);
    expect(hung.map((p) => p.status)).toEqual([503, 503, 503, 503, 503]);
    for (const p of hung) expect(p.ms).toBeLessThan(2_500);
    expect(hung[0].body.error.message).toMatch(/did not answer within 2 s/);
    proxy.resume();
    const resumedAt = Date.now();
    await waitFor(async () => (await probe()).status === 200, 'ready again after the database answered again', 20_000, 200);
    const resumedMs = Date.now() - resumedAt;
    expect((await behindProxy.data('{ me { email } }', {}, token)).me.email).toBe('ana@example.com');
    observed('/readyz', {
      downStatus: down.map((p) => p.status), downMs: down.map((p) => p.ms), downMessage: down[0].body.error.message,
      recoveredAfterUpMs: recoveredMs, hungMs: hung.map((p) => p.ms), recoveredAfterResumeMs: resumedMs,
    });
  });
});
