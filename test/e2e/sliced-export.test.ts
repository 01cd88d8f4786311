import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { RunnerMessage } from '../../src/exports/export-runner';
import { DEFAULT_FIELDS, ExportParams } from '../../src/exports/params';
import { STORE, TestServer, TestStore, rawRequest, waitForExport } from './harness';
import { unzip } from './unzip';

/**
 * A large export on SQLite is read by two threads in ts slices, each chunk deflated apart as a piece of
 * one gzip member (src/exports/sqlite-slices.ts, gzip-member.ts); a ZIP is still made by the one-thread
 * path. So the same request as CSV and as ZIP must give the same data file (sha256, size, rows), in ASC
 * and DESC order and for JSON Lines, and the stored file must be one valid gzip member, as browsers
 * need. On MariaDB the same assertions hold for the one path it has.
 */
const EVENTS = 300_000;
const START = Date.UTC(2025, 0, 6) + 123;
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** The gzip members of a file, walked one by one (each: a 10-byte header, raw deflate, an 8-byte trailer). */
function gzipMembers(file: Buffer): number {
  let at = 0;
  let members = 0;
  while (at < file.length) {
    expect([file[at], file[at + 1], file[at + 2]]).toEqual([0x1f, 0x8b, 8]);
    expect(file[at + 3]).toBe(0); // no name, comment or extra field: the header is 10 bytes
    const { engine } = zlib.inflateRawSync(file.subarray(at + 10), { info: true }) as unknown as { engine: { bytesWritten: number } };
    at += 10 + engine.bytesWritten + 8;
    members++;
  }
  expect(at).toBe(file.length);
  return members;
}

/** Sync-flush markers (an empty stored block: 00 00 ff ff) in a file: where its deflated pieces end. */
function syncMarkers(file: Buffer): number {
  let n = 0;
  for (let at = file.indexOf(SYNC); at !== -1; at = file.indexOf(SYNC, at + SYNC.length)) n++;
  return n;
}
const SYNC = Buffer.from([0, 0, 0xff, 0xff]);

describe(`an export of ${EVENTS.toLocaleString('en')} events on ${STORE}: slices and one thread agree`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'big', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', String(EVENTS), '--start', String(START), '--interval', '100']);
    server = new TestServer(store);
    await server.start();
  }, 600_000);

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  const exportOf = async (input: Record<string, unknown>) => {
    const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { responseCode message item { id } } }', { i: { dataRange: { datasets: [dataset] }, ...input } }, token);
    expect(d.createExport).toMatchObject({ responseCode: 'SUCCESS' });
    const id = d.createExport.item.id as string;
    const done = await waitForExport(server, token, id, ['COMPLETED'], 300_000);
    const get = (encoding: string) => rawRequest(`${server.url}/api/v3/data/exports/${id}`, { authorization: `Bearer ${token}`, 'accept-encoding': encoding });
    return { id, done, get };
  };

  test.each<[string, { format: string; order?: string } & Record<string, unknown>]>([
    ['CSV, ascending', { format: 'CSV' }],
    ['CSV, descending, every field, ISO 8601 times', { format: 'CSV', order: 'DESC', timestampFormat: 'ISO8601', timestampPrecision: 'MICROSECONDS', fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'] }],
    ['JSON Lines, ascending', { format: 'JSONL' }],
  ])('%s', async (_, input) => {
    const sliced = await exportOf(input);
    const zipped = await exportOf({ ...input, packaging: 'ZIP' });
    expect(sliced.done.status.recordsProcessed).toBe(EVENTS);
    expect(sliced.done.result.truncated).toBe(false);

    const gz = await sliced.get('gzip');
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    const members = gzipMembers(gz.body);
    const data = zlib.gunzipSync(gz.body);
    const plain = await sliced.get('identity');
    expect(plain.body.equals(data)).toBe(true);
    expect(sha256(data)).toBe(sliced.done.result.sha256);
    expect(data.length).toBe(sliced.done.result.sizeInBytes);
    expect(gz.body.length).toBe(sliced.done.result.compressedSizeInBytes);
    // One member on both stores; on SQLite it is made of pieces (the slices' chunks), each ending in a
    // sync flush, which a one-stream gzip never writes.
    expect(members).toBe(1);
    if (STORE === 'sqlite') expect(syncMarkers(gz.body)).toBeGreaterThan(2);
    else expect(syncMarkers(gz.body)).toBe(0);
    // The system's gzip agrees that the file is whole.
    expect(execFileSync('gzip', ['-t', '-'], { input: gz.body }).length).toBe(0);

    const entry = (await unzip((await zipped.get('identity')).body)).get(`events.${input.format === 'JSONL' ? 'jsonl' : 'csv'}`)!;
    expect(entry.data.equals(data)).toBe(true);
    expect(zipped.done.result.sha256).toBe(sliced.done.result.sha256);

    const lines = data.toString('utf8').trimEnd().split('\n');
    const rows = input.format === 'JSONL' ? lines.length : lines.length - 1;
    expect(rows).toBe(EVENTS);
    if (input.order === 'DESC') expect(lines[1] > lines[lines.length - 1]).toBe(true); // ISO times sort as text
  });

  // The runner as the compiled worker runs it (its helper thread is a compiled file), told a count below
  // the real one, as when events arrive between the queue's count and the run: reading in slices
  // overshoots, and the export is made again on one thread, which cuts the limit and the cap exactly.
  const runCounted = async (params: Partial<ExportParams>) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runExport } = require('../../dist/src/exports/export-runner') as typeof import('../../src/exports/export-runner');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sliced-'));
    const messages: RunnerMessage[] = [];
    try {
      await runExport(
        {
          databaseUrl: store.databaseUrl, exportId: 'x', fileStore: { kind: 'local-dir', dir }, fileKey: 'x.csv.gz', knownEstimate: 200_000, slicedExports: true,
          params: {
            datasetIds: [Number(dataset)], metrics: null, timestampPrecision: 'MILLISECONDS', fields: [...DEFAULT_FIELDS], filter: null, from: null, to: null,
            limit: null, header: true, timestampFormat: 'EPOCH', timeZone: 'UTC', excelSafe: false, maxRecords: 50_000_000, ...params,
          },
        },
        (m) => messages.push(m),
      );
      const file = fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]));
      return { done: messages.find((m) => m.type === 'done') as Extract<RunnerMessage, { type: 'done' }>, file };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  test.each([
    ['a limit', { limit: 250_000 }, false],
    ['the cap', { maxRecords: 250_000 }, true],
  ])('an export longer than its count stops exactly at %s', async (_, params, truncated) => {
    const { done, file } = await runCounted(params);
    expect(done).toMatchObject({ records: 250_000, truncated });
    const data = zlib.gunzipSync(file);
    expect(data.toString('utf8').trimEnd().split('\n')).toHaveLength(250_001);
    expect(sha256(data)).toBe(done.sha256);
    expect(gzipMembers(file)).toBe(1);
    expect(syncMarkers(file)).toBe(0); // made on one thread
  });

  test('the same data exported twice gives the same stored bytes: piece boundaries depend on the data alone', async () => {
    const a = await exportOf({});
    const b = await exportOf({});
    expect((await a.get('gzip')).body.equals((await b.get('gzip')).body)).toBe(true);
  });
});
