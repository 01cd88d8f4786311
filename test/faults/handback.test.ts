import { TestServer, TestStore, TestWorker, waitFor, waitForExport } from '../e2e/harness';
import { download, exportFiles, exportId, exportRow, HEAVY, killRunnerConnection, observed, Processes, sha256, sql, tmpFiles, waitUntilWriting } from './support';

const EVENTS = 150_000;
/** Seeding and a clean export, then many restarts: minutes on a shared machine. */
const SLOW_MS = 420_000;

/** Rolling restarts hand exports back; only faults count toward the 3 after which an export is FAILED. */
describe('hand-backs are not faults (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let server: TestServer;
  let token: string;
  let input: Record<string, unknown>;
  let cleanSha: string;

  const faultsOf = async (id: string) => Number((await sql<{ faults: number }>(store.databaseUrl, 'SELECT faults FROM data_export WHERE id = ?', [id]))[0].faults);

  beforeAll(async () => {
    await store.create();
    const seeded = await store.seededUser('ana@example.com', EVENTS);
    token = seeded.token;
    input = { dataRange: { datasets: [seeded.dataset] }, ...HEAVY };
    server = await procs.server(store, { EXPORT_WORKERS: '0' });
    const worker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    cleanSha = (await waitForExport(server, token, await exportId(server, token, input))).result.sha256;
    await worker.stop();
  }, SLOW_MS);

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('the worker holding a long export is restarted five times with SIGTERM: it COMPLETES, right sha256, no fault counted', async () => {
    let worker: TestWorker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    const id = await exportId(server, token, input);
    const restarts: { attempt: number; processed: number; exitMs: number }[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const writing = await waitUntilWriting(store, id, attempt, 30_000);
      const t = Date.now();
      const exit = await worker.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      restarts.push({ attempt, processed: writing.records_processed, exitMs: Date.now() - t });
      expect(await exportRow(store, id)).toMatchObject({ status: 'QUEUING', attempt, lease_owner: null });
      worker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    }
    const done = await waitForExport(server, token, id, ['COMPLETED'], 90_000);
    const row = await exportRow(store, id);
    observed('five SIGTERM restarts', { restarts: restarts.map((r) => `${r.attempt}@${r.processed}`), attempt: row.attempt, faults: await faultsOf(id), exitMs: restarts.map((r) => r.exitMs) });
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 6, message: null, file_name: `${id}.6.csv.gz` });
    expect(await faultsOf(id)).toBe(0);
    expect(done.status.recordsProcessed).toBe(EVENTS);
    expect(done.result.sha256).toBe(cleanSha);
    expect(sha256((await download(server, token, id, true)).csv)).toBe(cleanSha);
    expect(exportFiles(store.exportsDir, id)).toEqual([`${id}.6.csv.gz`]);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    await worker.stop();
  }, SLOW_MS);

  test('hand-backs and faults mixed (SIGTERM, KILL, SIGTERM, KILL, SIGTERM): two faults, it still COMPLETES; the third fault FAILS it', async () => {
    let worker: TestWorker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    const id = await exportId(server, token, input);
    const steps = ['SIGTERM', 'KILL', 'SIGTERM', 'KILL', 'SIGTERM'] as const;
    for (const [i, how] of steps.entries()) {
      await waitUntilWriting(store, id, i + 1, 30_000);
      if (how === 'SIGTERM') {
        await worker.stop();
        worker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
      } else {
        await killRunnerConnection(store);
        await waitFor(async () => {
          const row = await exportRow(store, id);
          return !(row.status === 'GENERATING' && row.attempt === i + 1);
        }, `attempt ${i + 1} to end`, 10_000, 20);
      }
    }
    const done = await waitForExport(server, token, id, ['COMPLETED'], 90_000);
    const row = await exportRow(store, id);
    observed('mixed hand-backs and faults', { steps, attempt: row.attempt, faults: await faultsOf(id) });
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 6 });
    expect(await faultsOf(id)).toBe(2);
    expect(done.result.sha256).toBe(cleanSha);

    // Three faults, with hand-backs between them: FAILED, naming the fault.
    const doomed = await exportId(server, token, input);
    for (const [i, how] of (['KILL', 'SIGTERM', 'KILL', 'KILL'] as const).entries()) {
      await waitUntilWriting(store, doomed, i + 1, 30_000);
      if (how === 'SIGTERM') {
        await worker.stop();
        worker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
      } else await killRunnerConnection(store);
      if (i < 3) await waitFor(async () => (await exportRow(store, doomed)).attempt > i + 1, `attempt ${i + 2}`, 20_000, 20);
    }
    const failed = await waitForExport(server, token, doomed, ['FAILED'], 20_000);
    const failedRow = await exportRow(store, doomed);
    observed('three faults among hand-backs', { attempt: failedRow.attempt, faults: await faultsOf(doomed), message: failed.status.message });
    expect(failedRow).toMatchObject({ status: 'FAILED', attempt: 4, lease_owner: null });
    expect(await faultsOf(doomed)).toBe(3);
    expect(failed.status.message).toMatch(/^export failed after 3 faulty attempts: the database (killed the connection|connection was lost)/);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    await worker.stop();
  }, SLOW_MS);
});
