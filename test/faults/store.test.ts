import fs from 'node:fs';
import path from 'node:path';
import { TestServer, TestStore, TestWorker, waitForExport } from '../e2e/harness';
import { exportId, exportRow, Processes, tmpFiles } from './support';

/** Something in the exports directory that the store did not put there: the export fails clearly, the worker lives on. */
describe('export store faults (MariaDB)', () => {
  const store = new TestStore('mysql');
  const procs = new Processes();
  let server: TestServer;
  let token: string;
  let input: Record<string, unknown>;

  beforeAll(async () => {
    await store.create();
    const seeded = await store.seededUser('ana@example.com', 2_000);
    token = seeded.token;
    input = { dataRange: { datasets: [seeded.dataset] } };
    server = await procs.server(store, { EXPORT_WORKERS: '0' });
  });

  afterAll(async () => {
    await procs.killAll();
    await store.drop();
  });

  test("a directory at the attempt's temporary name: FAILED saying so, and the same worker completes the next export", async () => {
    const id = await exportId(server, token, input);
    fs.mkdirSync(store.exportsDir, { recursive: true });
    const inTheWay = path.join(store.exportsDir, `${id}.1.csv.gz.tmp`);
    fs.mkdirSync(inTheWay);
    const worker: TestWorker = await procs.worker(store, { EXPORT_CONCURRENCY: '1' });
    const failed = await waitForExport(server, token, id, ['FAILED'], 30_000);
    expect(failed.status.message).toMatch(/a directory is in the way of the attempt's temporary file/);
    expect(fs.statSync(inTheWay).isDirectory()).toBe(true); // the store deletes only files it wrote

    const next = await exportId(server, token, input);
    await waitForExport(server, token, next, ['COMPLETED'], 30_000);
    expect((await exportRow(store, next)).file_name).toBe(`${next}.1.csv.gz`);
    expect(worker.lines(/could not remove a file in the exports directory/).length).toBeGreaterThan(0);
    fs.rmdirSync(inTheWay);
    expect(tmpFiles(store.exportsDir)).toEqual([]);
  });
});
