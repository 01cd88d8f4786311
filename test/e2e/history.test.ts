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

describe(`a much-downloaded export's history on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    ({ token, dataset } = await store.seededUser('ines@example.com', 1_000));
    server = new TestServer(store);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('past 1 000 downloads it still shows how the export was made, and its newest 1 000 downloads, oldest first', async () => {
    const id = await createExport(server, token, { dataRange: { datasets: [dataset] } });
    await waitForExport(server, token, id);
    const DOWNLOADS = 1_010;
    // Each download asks for a different first byte range, so every entry can be told apart by its message.
    const download = async (i: number) => {
      const res = await fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity', range: `bytes=0-${i}` } });
      expect(res.status).toBe(206);
      await res.arrayBuffer();
    };
    for (let i = 0; i < DOWNLOADS; i += 20) await Promise.all(Array.from({ length: Math.min(20, DOWNLOADS - i) }, (_, k) => download(i + k)));
    // A download's entry is written after its response: wait until the last batch's are all in.
    const rangeOf = (e: { message: string | null }) => Number(/^plain bytes 0-(\d+) of \d+$/.exec(e.message ?? '')?.[1]);
    const events = await waitFor(async () => {
      const e = await historyOf(server, token, id);
      const seen = new Set(e.map(rangeOf));
      return Array.from({ length: 20 }, (_, k) => DOWNLOADS - 1 - k).every((r) => seen.has(r)) ? e : undefined;
    }, 'the last downloads in the history');
    expect(events.slice(0, 3).map((e) => e.type)).toEqual(['QUEUED', 'STARTED', 'COMPLETED']);
    const downloads = events.slice(3);
    expect(downloads).toHaveLength(1_000);
    expect(downloads.every((e) => e.type === 'DOWNLOADED')).toBe(true);
    // The newest 1 000 are the ranges asked for last (bytes 0-10 … 0-1009); the first ten fell off.
    const asked = new Set(downloads.map(rangeOf));
    expect(asked.size).toBe(1_000);
    expect(Math.min(...asked)).toBeGreaterThanOrEqual(DOWNLOADS - 1_000 - 20); // parallel batches of 20 may land out of order
    expect(events[1].message).toBe('attempt 1');
  }, 120_000);
});
