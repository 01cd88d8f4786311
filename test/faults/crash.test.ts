import { TestServer, TestStore, TestWorker, waitFor, waitForExport } from '../e2e/harness';
import { download, exportFiles, exportId, exportRow, HEAVY, observed, openExportFiles, Processes, sha256, tmpFiles, waitUntilWriting } from './support';

const EVENTS = 300_000;
const LEASE_MS = 3_000;
const WORKER_ENV = { EXPORT_LEASE: `${LEASE_MS / 1000}s`, EXPORT_CONCURRENCY: '1' };

/** Workers that die or freeze mid-export: the lease hands the export on, the attempt guard keeps the dead quiet. */
describe('crashed and frozen workers (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let server: TestServer;
  let token: string;
  let input: Record<string, unknown>;
  /** sha256 and run time of a clean export of the same data with the same settings. */
  let clean: { sha256: string; ms: number };

  const workerOwning = (owner: string | null, workers: TestWorker[]) => {
    const w = workers.find((x) => x.owner === owner);
    if (!w) throw new Error(`no worker owns ${owner}`);
    return w;
  };

  beforeAll(async () => {
    await store.create();
    const seeded = await store.seededUser('ana@example.com', EVENTS);
    token = seeded.token;
    const dataset = seeded.dataset;
    input = { dataRange: { datasets: [dataset] }, ...HEAVY };
    server = await procs.server(store, { EXPORT_WORKERS: '0' });
    const worker = await procs.worker(store, WORKER_ENV);
    const id = await exportId(server, token, input);
    const done = await waitForExport(server, token, id);
    const row = await exportRow(store, id);
    clean = { sha256: done.result.sha256, ms: (row.completed_on as number) - (row.started_on as number) };
    expect(done.status.recordsProcessed).toBe(EVENTS);
    observed('clean export', { records: EVENTS, ms: clean.ms, sha256: clean.sha256.slice(0, 12) });
    await worker.stop();
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('kill -9 mid-export: the other worker completes it within the lease plus its run time, same sha256, no temporary file', async () => {
    const workers = [await procs.worker(store, WORKER_ENV), await procs.worker(store, WORKER_ENV)];
    const id = await exportId(server, token, input);
    const writing = await waitUntilWriting(store, id, 1);
    const victim = workerOwning(writing.lease_owner, workers);
    const survivor = workers.find((w) => w !== victim) as TestWorker;
    const killedAt = Date.now();
    await victim.kill();
    const done = await waitForExport(server, token, id, ['COMPLETED'], 60_000);
    const row = await exportRow(store, id);
    const tookOver = (row.started_on as number) - killedAt;
    const total = (row.completed_on as number) - killedAt;
    observed('kill -9', { processedWhenKilled: writing.records_processed, takeoverMs: tookOver, completedAfterKillMs: total, limitMs: LEASE_MS + clean.ms, attempt: row.attempt });
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 2, lease_owner: null, file_name: `${id}.2.csv.gz` });
    expect(survivor.lines(/export started/).map((l) => [l.export, l.attempt])).toContainEqual([id, 2]);
    // Taken over when the lease of its last heartbeat runs out (a little under EXPORT_LEASE after the kill), then
    // regenerated in about a clean export's run time (slack for a machine shared with the rest of the suite).
    expect(tookOver).toBeLessThanOrEqual(LEASE_MS + 300);
    expect(total).toBeLessThanOrEqual(LEASE_MS + clean.ms * 1.5 + 1_000);
    expect(done.status.recordsProcessed).toBe(EVENTS);
    expect(done.result.sha256).toBe(clean.sha256);
    expect(sha256((await download(server, token, id, true)).csv)).toBe(clean.sha256); // the file itself, not only what the runner reported
    expect(exportFiles(store.exportsDir, id)).toEqual([`${id}.2.csv.gz`]);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    await survivor.stop();
  });

  test('a worker killed and restarted alone picks its export up again', async () => {
    const alone = await procs.worker(store, WORKER_ENV);
    const id = await exportId(server, token, input);
    await waitUntilWriting(store, id, 1);
    await alone.kill();
    const killedAt = Date.now();
    expect(tmpFiles(store.exportsDir)).toEqual([`${id}.1.csv.gz.tmp`]); // what the dead worker left behind
    const restarted = await procs.worker(store, WORKER_ENV);
    const done = await waitForExport(server, token, id, ['COMPLETED'], 60_000);
    const row = await exportRow(store, id);
    observed('killed and restarted', { restartMs: Date.now() - killedAt, takeoverAfterKillMs: (row.started_on as number) - killedAt, attempt: row.attempt });
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 2, file_name: `${id}.2.csv.gz` });
    expect(restarted.lines(/export started/).map((l) => [l.export, l.attempt])).toEqual([[id, 2]]);
    expect(done.result.sha256).toBe(clean.sha256);
    expect(sha256((await download(server, token, id, true)).csv)).toBe(clean.sha256); // the file itself, not only what the runner reported
    expect(exportFiles(store.exportsDir, id)).toEqual([`${id}.2.csv.gz`]);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    await restarted.stop();
  });

  test('a worker frozen (SIGSTOP) past its lease and resumed cannot overwrite the attempt that took over; it gives up cleanly', async () => {
    const workers = [await procs.worker(store, WORKER_ENV), await procs.worker(store, WORKER_ENV)];
    const id = await exportId(server, token, input);
    const writing = await waitUntilWriting(store, id, 1);
    const frozen = workerOwning(writing.lease_owner, workers);
    const other = workers.find((w) => w !== frozen) as TestWorker;
    frozen.signal('SIGSTOP');
    const stoppedAt = Date.now();
    // The other worker takes over once the lease has run out, and starts writing attempt 2.
    const takenOver = await waitUntilWriting(store, id, 2, 30_000);
    expect(takenOver.lease_owner).toBe(other.owner);
    const pausedMs = Date.now() - stoppedAt;
    frozen.signal('SIGCONT');
    const resumedAt = Date.now();

    // Its first heartbeat is refused by the attempt guard: it stops its thread and drops its file.
    const gaveUp = await waitFor(async () => frozen.lines(/no longer held/).find((l) => l.export === id && l.attempt === 1), 'the resumed worker to notice', 10_000);
    const threadEnded = await waitFor(async () => frozen.lines(/runner thread ended/).find((l) => l.export === id && l.attempt === 1), 'its runner thread to end', 10_000);
    await waitFor(async () => openExportFiles(frozen.pid, store.exportsDir).length === 0, 'the resumed worker to hold no export file open', 5_000);
    const meanwhile = await exportRow(store, id);
    expect(meanwhile).toMatchObject({ attempt: 2, lease_owner: other.owner });
    expect(['GENERATING', 'COMPLETED']).toContain(meanwhile.status);

    const done = await waitForExport(server, token, id, ['COMPLETED'], 60_000);
    const row = await exportRow(store, id);
    observed('SIGSTOP/SIGCONT', {
      pausedMs, takeoverAfterStopMs: (takenOver.started_on as number) - stoppedAt, gaveUpAfterResumeMs: gaveUp.time - resumedAt,
      threadEndedAfterResumeMs: threadEnded.time - resumedAt, otherWorkerStillWriting: meanwhile.status === 'GENERATING', attempt: row.attempt,
    });
    expect(row).toMatchObject({ status: 'COMPLETED', attempt: 2, file_name: `${id}.2.csv.gz`, message: null });
    expect(done.result.sha256).toBe(clean.sha256);
    expect(sha256((await download(server, token, id, true)).csv)).toBe(clean.sha256); // the file itself, not only what the runner reported
    expect(frozen.lines(/export completed|export failed/).filter((l) => l.export === id)).toEqual([]);
    expect(exportFiles(store.exportsDir, id)).toEqual([`${id}.2.csv.gz`]);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
    // The resumed worker carries on: it still takes and finishes work.
    await other.stop();
    const next = await exportId(server, token, { ...input, limit: 1000 });
    await waitForExport(server, token, next, ['COMPLETED'], 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\nthe resumed worker's log:\n${frozen.logs}`);
    });
    expect(frozen.lines(/export completed/).map((l) => l.export)).toContain(next);
  });
});
