import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { rawRequest, STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';
import { createExport, historyOf } from './delivery-support';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const digestOf = (b: Buffer) => `sha-256=:${crypto.createHash('sha256').update(b).digest('base64')}:`;

describe(`resumable, cacheable downloads on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let token: string;
  let id: string;
  let url: string;
  let plain: Buffer;
  let stored: Buffer;
  let result: { sha256: string; sizeInBytes: number; compressedSizeInBytes: number };
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    await store.create();
    let dataset: string;
    ({ token, dataset } = await store.seededUser('dan@example.com', 60_000));
    server = new TestServer(store);
    await server.start();
    id = await createExport(server, token, { name: 'resume me', dataRange: { datasets: [dataset] }, fields: ['timestamp', 'metric', 'source', 'value', 'tags', 'location'] });
    result = (await waitForExport(server, token, id)).result;
    url = `${server.url}/api/v3/data/exports/${id}`;
    stored = fs.readFileSync(path.join(store.exportsDir, fs.readdirSync(store.exportsDir).find((f) => f.startsWith(id)) as string));
    plain = zlib.gunzipSync(stored);
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('each representation has its own strong ETag and a Repr-Digest of what is sent', async () => {
    const p = await rawRequest(url, auth());
    expect(p.status).toBe(200);
    expect(p.headers['accept-ranges']).toBe('bytes');
    expect(p.headers['content-encoding']).toBeUndefined();
    expect(sha256(p.body)).toBe(result.sha256);
    expect(p.headers.etag).toBe(`"${result.sha256}"`);
    expect(p.headers['repr-digest']).toBe(digestOf(p.body));
    const g = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip' });
    expect(g.status).toBe(200);
    expect(g.headers['content-encoding']).toBe('gzip');
    expect(g.body.equals(stored)).toBe(true);
    expect(g.headers.etag).toBe(`"${sha256(stored)}"`);
    expect(g.headers['repr-digest']).toBe(digestOf(stored));
    expect(g.headers.etag).not.toBe(p.headers.etag);
    expect(g.headers.vary).toBe('Accept-Encoding');
    const head = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.headers).toMatchObject({ etag: g.headers.etag, 'content-length': String(stored.length), 'repr-digest': digestOf(stored) });
  });

  test('one Range gives 206 on either representation; past the end is 416 with bytes */size; several get 200 whole', async () => {
    const part = await rawRequest(url, { ...auth(), range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${plain.length}`);
    expect(part.headers['content-length']).toBe('1000');
    expect(part.body.equals(plain.subarray(1000, 2000))).toBe(true);
    expect(part.headers['repr-digest']).toBe(digestOf(plain)); // of the whole representation
    const suffix = await rawRequest(url, { ...auth(), range: 'bytes=-77' });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(plain.subarray(plain.length - 77))).toBe(true);

    // The stored gzip bytes, chosen by an If-Range that names them (or by refusing identity).
    const gzEtag = `"${sha256(stored)}"`;
    const gz = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip', 'if-range': gzEtag, range: 'bytes=500-' });
    expect(gz.status).toBe(206);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-range']).toBe(`bytes 500-${stored.length - 1}/${stored.length}`);
    expect(gz.body.equals(stored.subarray(500))).toBe(true);
    const gz2 = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip, identity;q=0', range: 'bytes=0-9' });
    expect(gz2.status).toBe(206);
    expect(gz2.body.equals(stored.subarray(0, 10))).toBe(true);

    const outside = await rawRequest(url, { ...auth(), range: `bytes=${plain.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers['content-range']).toBe(`bytes */${plain.length}`);
    const outsideGz = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip, identity;q=0', range: `bytes=${stored.length + 5}-` });
    expect(outsideGz.status).toBe(416);
    expect(outsideGz.headers['content-range']).toBe(`bytes */${stored.length}`);
    expect(JSON.parse(outsideGz.body.toString()).error.status).toBe(416);

    const several = await rawRequest(url, { ...auth(), range: 'bytes=0-9,20-29' });
    expect(several.status).toBe(200);
    expect(several.body.equals(plain)).toBe(true);
  });

  test('If-None-Match gives 304 for the same representation only; a stale If-Range gives 200 whole', async () => {
    const plainTag = `"${result.sha256}"`;
    const gzTag = `"${sha256(stored)}"`;
    const notModified = await rawRequest(url, { ...auth(), 'if-none-match': plainTag });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect(notModified.headers.etag).toBe(plainTag);
    expect((await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip', 'if-none-match': `W/${gzTag}, "other"` })).status).toBe(304);
    // The plain tag does not match the gzip representation.
    const other = await rawRequest(url, { ...auth(), 'accept-encoding': 'gzip', 'if-none-match': plainTag });
    expect(other.status).toBe(200);
    expect(other.body.equals(stored)).toBe(true);
    const stale = await rawRequest(url, { ...auth(), 'if-range': '"not-this-one"', range: 'bytes=10-20' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(plain)).toBe(true);
    const fresh = await rawRequest(url, { ...auth(), 'if-range': plainTag, range: 'bytes=10-20' });
    expect(fresh.status).toBe(206);
    expect(fresh.body.equals(plain.subarray(10, 21))).toBe(true);
    // Recorded once the body is sent, so it may land just after the response.
    await waitFor(async () => (await historyOf(server, token, id)).some((e) => e.type === 'DOWNLOADED' && e.message === `plain bytes 10-20 of ${plain.length}`), 'the range in the history');
  });

  /** Starts curl slowly, kills it after a random time (a cut download), then resumes with -C -. */
  async function cutAndResume(extra: string[], rate: string): Promise<{ cutAt: number; codes: string }> {
    const out = path.join(store.dir, `curl-${extra.join('') || 'plain'}.out`);
    fs.rmSync(out, { force: true });
    const args = ['-s', '-H', `Authorization: Bearer ${token}`, ...extra];
    const first = spawn('curl', [...args, '--limit-rate', rate, '-o', out, url]);
    const exited = new Promise((r) => first.once('exit', r));
    await waitFor(async () => fs.existsSync(out) && fs.statSync(out).size > 0, 'the first bytes');
    await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 700)));
    first.kill('SIGKILL');
    await exited;
    // curl may have written everything before the kill lands (its rate limit is loose): then cut its output at a random byte.
    if (fs.statSync(out).size >= plain.length) fs.truncateSync(out, 1 + Math.floor(Math.random() * (plain.length - 2)));
    const cutAt = fs.statSync(out).size;
    const { stdout } = await promisify(execFile)('curl', [...args, '-C', '-', '-o', out, '-w', '%{http_code}', url]);
    return { cutAt, codes: stdout };
  }

  test('curl -C - resumes a download cut at a random byte, without and with --compressed, and the sha256 matches', async () => {
    const plainRun = await cutAndResume([], '200k');
    expect(plainRun.cutAt).toBeGreaterThan(0);
    expect(plainRun.cutAt).toBeLessThan(plain.length);
    expect(plainRun.codes).toBe('206');
    expect(sha256(fs.readFileSync(path.join(store.dir, 'curl-plain.out')))).toBe(result.sha256);

    const compressedRun = await cutAndResume(['--compressed'], '20k');
    expect(compressedRun.cutAt).toBeGreaterThan(0);
    expect(compressedRun.cutAt).toBeLessThan(plain.length);
    expect(compressedRun.codes).toBe('206');
    expect(sha256(fs.readFileSync(path.join(store.dir, 'curl---compressed.out')))).toBe(result.sha256);
    console.log(`[${STORE}] curl -C - resumed at byte ${plainRun.cutAt} of ${plain.length} (plain) and at decoded byte ${compressedRun.cutAt} (--compressed): sha256 ${result.sha256}`);
  });

  test('createDownloadLink(validFor:) lasts as asked, at most until the export expires', async () => {
    const link = async (validFor?: number) =>
      (await server.data(`mutation ($id: String!, $v: Int) { onExport(id: $id) { createDownloadLink(validFor: $v) { responseCode message link expiresOn } } }`, { id, v: validFor ?? null }, token)).onExport.createDownloadLink;
    const before = Date.now();
    const hour = await link(3600);
    expect(hour.responseCode).toBe('SUCCESS');
    expect(hour.expiresOn).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(hour.expiresOn).toBeLessThanOrEqual(Date.now() + 3_600_000);
    const res = await rawRequest(`${server.url}${hour.link}`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(result.sha256);
    const usual = await link();
    expect(usual.expiresOn - Date.now()).toBeLessThanOrEqual(120_000);
    const tooLong = await link(8 * 86_400);
    expect(tooLong).toMatchObject({ responseCode: 'BAD_REQUEST', link: null, expiresOn: null });
    expect(tooLong.message).toMatch(/^validFor 691200 s would outlive the export, which expires at \S+Z: at most \d+ s$/);
    const most = Number(/at most (\d+) s/.exec(tooLong.message)?.[1]);
    expect(most).toBeGreaterThan(7 * 86_400 - 600);
    expect((await link(most - 5)).responseCode).toBe('SUCCESS');
    expect((await link(0)).message).toBe('validFor must be a positive number of seconds, not 0');
  });
});
