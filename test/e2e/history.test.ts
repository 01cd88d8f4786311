import fs from 'node:fs';
import path from 'node:path';
import { STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';
import { createExport, historyOf } from './delivery-support';

const HEAVY = {
  fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'],
  timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', timestampPrecision: 'MICROSECONDS',
};

describe(`an export's history on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    ({ token, dataset } = await store.seededUser('hana@example.com', 150_000));
    // One export at a time, so a second one waits in the queue behind the first.
    server = new TestServer(store, { EXPORT_CONCURRENCY: '1', EXPORT_RETENTION: '4s' });
    await server.start();
  });

  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.split('\n').slice(-60).join('\n'));
    await server?.stop();
    await store.drop();
  });

  test('a completed, downloaded export reads QUEUED, STARTED, COMPLETED, DOWNLOADED, oldest first', async () => {
    const id = await createExport(server, token, { dataRange: { datasets: [dataset] }, limit: 500 });
    await waitForExport(server, token, id);
    const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const events = await waitFor(async () => {
      const e = await historyOf(server, token, id);
      return e.length >= 4 ? e : undefined;
    }, 'the download in the history');
    expect(events.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED', 'DOWNLOADED']);
    expect(events[1].message).toBe('attempt 1');
    expect(events[3].message).toMatch(/^plain, whole \(\d+ bytes\)$/);
    for (let i = 1; i < events.length; i++) expect(events[i].at).toBeGreaterThanOrEqual(events[i - 1].at);
  });

  test('a cancelled export ends with CANCELLED and who did it; one that cannot write its file ends with FAILED and why', async () => {
    const running = await createExport(server, token, { dataRange: { datasets: [dataset] }, ...HEAVY });
    await waitForExport(server, token, running, ['GENERATING']);
    const doomed = await createExport(server, token, { dataRange: { datasets: [dataset] }, limit: 10 });
    // Its first attempt's temporary name points into a directory that does not exist: the runner cannot open it.
    fs.symlinkSync(path.join(store.dir, 'no-such-dir', 'x'), path.join(store.exportsDir, `${doomed}.1.csv.gz.tmp`));
    const cancel = await server.data(`mutation ($id: String!) { onExport(id: $id) { cancel(reason: "wrong range") { responseCode } } }`, { id: running }, token);
    expect(cancel.onExport.cancel.responseCode).toBe('SUCCESS');
    const cancelled = await historyOf(server, token, running);
    expect(cancelled.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'CANCELLED']);
    expect(cancelled[2].message).toBe('cancelled by the user: wrong range');

    await waitForExport(server, token, doomed, ['FAILED']);
    const failed = await historyOf(server, token, doomed);
    expect(failed.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'FAILED']);
    // the runner never writes over a file it did not make, and says which one is in its way
    expect(failed[2].message).toBe(`export failed: a file is in the way of the attempt's temporary file ${doomed}.1.csv.gz.tmp in the exports directory (EEXIST): remove it from EXPORTS_DIR, then export again`);
  });

  test('the retention sweep records EXPIRED when it deletes the file', async () => {
    const id = await createExport(server, token, { dataRange: { datasets: [dataset] }, limit: 5 });
    await waitForExport(server, token, id);
    await new Promise((r) => setTimeout(r, 4_500)); // past EXPORT_RETENTION; the sweep runs when a worker starts
    await server.stop();
    server = new TestServer(store, { EXPORT_CONCURRENCY: '1', EXPORT_RETENTION: '4s' });
    await server.start();
    const events = await waitFor(async () => {
      const e = await historyOf(server, token, id);
      return e.some((x) => x.type === 'EXPIRED') ? e : undefined;
    }, 'EXPIRED in the history');
    expect(events.map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED', 'EXPIRED']);
    const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(410);
  });
});
