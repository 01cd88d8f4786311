import crypto from 'node:crypto';
import http from 'node:http';
import { serverProcess, TestServer, TestStore, waitFor, waitForExport } from '../e2e/harness';
import { createUsers, exportId, exportRows, HEAVY, observed, Processes, tmpFiles, waitUntilWriting } from './support';

const EVENTS = 200_000;

/** SIGTERM is a request to leave politely: a worker hands its exports back, a server finishes its downloads. */
describe('graceful stop (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let server: TestServer;
  let ana: { token: string };
  let bob: { token: string };
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    [ana, bob] = await createUsers(store, ['ana@example.com', 'bob@example.com']);
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'sensors', '--owner', 'ana@example.com'])).id;
    await store.cli(['dataset', 'grant', '--dataset', dataset, '--email', 'bob@example.com', '--permission', 'READ']);
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS)]);
    server = await procs.server(store, { EXPORT_WORKERS: '0' });
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test('SIGTERM on a worker hands its running exports back to the queue and exits 0 within 10 s; another worker takes them at once', async () => {
    // The default 30 s lease: a pickup within seconds can only come from the hand-back, not from a lease running out.
    const first = await procs.worker(store, { EXPORT_CONCURRENCY: '2' });
    const input = { dataRange: { datasets: [dataset] }, ...HEAVY };
    const ids = [await exportId(server, ana.token, input), await exportId(server, bob.token, input)];
    await Promise.all(ids.map((id) => waitUntilWriting(store, id, 1)));
    const termAt = Date.now();
    first.signal('SIGTERM');
    const exit = await first.exited;
    const exitMs = Date.now() - termAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(10_000);
    const handedBack = await exportRows(store, ids);
    expect(handedBack.map((r) => [r.status, r.attempt, r.lease_owner, r.started_on, r.records_processed])).toEqual(ids.map(() => ['QUEUING', 1, null, null, 0]));
    expect(first.lines(/handed back to the queue/).map((l) => l.export).sort()).toEqual([...ids].sort());
    expect(tmpFiles(store.exportsDir)).toEqual([]);

    const startedAt = Date.now();
    const second = await procs.worker(store, { EXPORT_CONCURRENCY: '2' });
    const done = await Promise.all([waitForExport(server, ana.token, ids[0], ['COMPLETED'], 60_000), waitForExport(server, bob.token, ids[1], ['COMPLETED'], 60_000)]);
    const rows = await exportRows(store, ids);
    const pickupMs = Math.max(...rows.map((r) => (r.started_on as number) - startedAt)); // process start included
    observed('worker SIGTERM', { exitMs, exitCode: exit.code, handedBack: ids.length, pickupByOtherWorkerMs: pickupMs });
    expect(rows.map((r) => [r.status, r.attempt])).toEqual([['COMPLETED', 2], ['COMPLETED', 2]]);
    expect(second.lines(/export started/).map((l) => l.export).sort()).toEqual([...ids].sort());
    expect(pickupMs).toBeLessThan(5_000);
    expect(done.map((d) => d.status.recordsProcessed)).toEqual([EVENTS, EVENTS]);
    expect(done[0].result.sha256).toBe(done[1].result.sha256); // same data, same settings, two users: same bytes
    expect(tmpFiles(store.exportsDir)).toEqual([]);
  });

  test('SIGTERM on a server lets an in-flight download finish, then the server exits 0', async () => {
    const id = await exportId(server, ana.token, { dataRange: { datasets: [dataset] } });
    const done = await waitForExport(server, ana.token, id, ['COMPLETED'], 60_000);
    const leaving = await procs.server(store, { EXPORT_WORKERS: '0' });
    const child = serverProcess(leaving);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));

    // A slow reader: a pause after every chunk, so the response is still streaming when SIGTERM comes.
    let termAt = 0;
    let refusedWhileDraining: string | undefined;
    const received = await new Promise<{ bytes: number; sha256: string; endAt: number; status: number }>((resolve, reject) => {
      const req = http.get(`${leaving.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${ana.token}` }, agent: false }, (res) => {
        const hash = crypto.createHash('sha256');
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (!termAt && bytes > 256 * 1024) {
            termAt = Date.now();
            child.kill('SIGTERM');
            // once it has begun to stop (the signal is asynchronous), a new request is not taken
            void waitFor(async () => leaving.logs.includes('finishing in-flight requests'), 'the server to begin stopping', 5_000, 10)
              .then(() => fetch(`${leaving.url}/readyz`))
              .then((r) => (refusedWhileDraining = `status ${r.status}`), (err: Error) => (refusedWhileDraining = (err.cause as Error)?.message ?? err.message));
          }
          res.pause();
          setTimeout(() => res.resume(), 10);
        });
        res.on('error', reject);
        res.on('end', () => resolve({ bytes, sha256: hash.digest('hex'), endAt: Date.now(), status: res.statusCode as number }));
      });
      req.on('error', reject);
    });
    const exit = await exited;
    await waitFor(async () => refusedWhileDraining, 'the probe during the drain', 5_000);
    const stopping = JSON.parse(leaving.logs.split('\n').find((l) => l.includes('finishing in-flight requests')) as string);
    observed('server SIGTERM during a download', {
      bytes: received.bytes, downloadAfterTermMs: received.endAt - termAt, exitAfterTermMs: exit.at - termAt, exitCode: exit.code,
      inFlightAtTerm: stopping.inFlight, newRequestWhileDraining: refusedWhileDraining,
    });
    expect(termAt).toBeGreaterThan(0);
    expect(received.status).toBe(200);
    expect(received.bytes).toBe(done.result.sizeInBytes);
    expect(received.sha256).toBe(done.result.sha256);
    expect(exit.code).toBe(0);
    expect(stopping.inFlight).toBe(1);
    expect(refusedWhileDraining).toMatch(/ECONNREFUSED|status 503/);
  });
});
