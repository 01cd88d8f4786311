import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ExportStore, exportKey, openExportStore } from '../../src/exports/storage';

/** The store contract, on a real directory: what every implementation (local now, S3 next) must do. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function writeTemp(store: ExportStore, key: string, bytes: Buffer): Promise<number> {
  const out = store.createTemp(key);
  const failed = once(out, 'error').then(([err]) => Promise.reject(err as Error));
  out.end(bytes);
  await Promise.race([once(out, 'close'), failed]);
  return out.bytesWritten;
}

describe('ExportStore (local directory)', () => {
  let dir: string;
  let store: ExportStore;
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17); // more than one read chunk
  const key = exportKey('e1', 1, { format: 'CSV' as never });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-store-'));
    store = openExportStore({ kind: 'local-dir', dir: path.join(dir, 'exports') });
    await store.prepare();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps a temporary file invisible until commit, then reads it whole and by range with its digest', async () => {
    expect(await writeTemp(store, key, bytes)).toBe(bytes.length);
    expect(await store.stat(key)).toBeNull();
    await store.commit(key);
    expect(await store.stat(key)).toEqual({ size: bytes.length });
    expect((await readAll(store.read(key))).equals(bytes)).toBe(true);
    expect((await readAll(store.read(key, { start: 1_000_000, end: 2_500_000 }))).equals(bytes.subarray(1_000_000, 2_500_001))).toBe(true);
    expect(await store.digest(key)).toEqual({ size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });
    await store.remove(key);
    expect(await store.stat(key)).toBeNull();
    await store.remove(key); // a missing file is not an error
  });

  it('never writes over a temporary file already there', async () => {
    await writeTemp(store, key, bytes);
    await expect(writeTemp(store, key, Buffer.from('again'))).rejects.toThrow(/a file is in the way/);
  });

  it('a directory at the temporary name is a clear error, and cleanup leaves it without throwing', async () => {
    fs.mkdirSync(path.join(dir, 'exports', `${key}.tmp`));
    await expect(writeTemp(store, key, bytes)).rejects.toThrow(/a directory is in the way/);
    await expect(store.discardTemp(key)).resolves.toBeUndefined();
    await expect(store.discardAttemptsBut('e1', exportKey('e1', 2, { format: 'CSV' as never }))).resolves.toBeUndefined();
    expect(fs.statSync(path.join(dir, 'exports', `${key}.tmp`)).isDirectory()).toBe(true);
  });

  it('a directory at the stored name fails the commit clearly, and a stat of it is no file', async () => {
    await writeTemp(store, key, bytes);
    fs.mkdirSync(path.join(dir, 'exports', key));
    await expect(store.commit(key)).rejects.toThrow(/a directory is in the way of the export's file/);
    expect(await store.stat(key)).toBeNull();
  });

  it('discards the files of other attempts of the same export only', async () => {
    const keep = exportKey('e1', 3, {});
    for (const k of [exportKey('e1', 1, {}), exportKey('e1', 2, {}), keep, exportKey('e10', 1, {})]) await writeTemp(store, k, Buffer.from(k));
    await store.commit(exportKey('e1', 1, {}));
    await store.discardAttemptsBut('e1', keep);
    expect(fs.readdirSync(path.join(dir, 'exports')).sort()).toEqual([`${keep}.tmp`, `${exportKey('e10', 1, {})}.tmp`].sort());
  });

  it('refuses keys that would leave the directory', () => {
    for (const bad of ['../x', 'a/b', '..', '', 'a\0b']) expect(() => store.read(bad)).toThrow(/not a key of the export store/);
  });
});

/**
 * `OpenedFile.copyTo` reuses its chunk buffers once the socket has flushed them: served over a real HTTP
 * server to clients that read slowly, at once and by range, every byte must still be the stored one.
 */
describe('OpenedFile.copyTo over HTTP', () => {
  let dir: string;
  let store: ExportStore;
  let server: http.Server;
  let base: string;
  const bytes = crypto.randomBytes(9 * 1024 * 1024 + 123);
  const key = exportKey('e2', 1, { format: 'CSV' as never });
  const served: Promise<unknown>[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-copy-'));
    store = openExportStore({ kind: 'local-dir', dir: path.join(dir, 'exports') });
    await store.prepare();
    await writeTemp(store, key, bytes);
    await store.commit(key);
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const start = Number(url.searchParams.get('start') ?? 0);
      const end = Number(url.searchParams.get('end') ?? bytes.length - 1);
      // `claim` says how large the file is: a row that believes it larger than the stored file.
      const claim = Number(url.searchParams.get('claim') ?? bytes.length);
      served.push(
        (async () => {
          const file = await store.open(key, claim);
          res.writeHead(200, { 'content-length': String(end - start + 1) });
          await file!.copyTo(res, { start, end });
        })().then(
          () => 'sent',
          (err: NodeJS.ErrnoException) => {
            res.destroy();
            return err.code ?? err.message;
          },
        ),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** GET with a reader that pauses `pauseMs` after every `pauseEvery` chunks, so the server's writes back up. */
  function get(query: string, pauseMs = 0, pauseEvery = 8): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      http.get(`${base}/?${query}`, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (pauseMs && chunks.length % pauseEvery === 0) {
            res.pause();
            setTimeout(() => res.resume(), pauseMs);
          }
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });
  }

  it('sends every byte to slow clients reading at once, whole and by range', async () => {
    served.length = 0;
    const [a, b, c, d] = await Promise.all([
      get('', 5),
      get('', 2, 3),
      get('start=1048570&end=5242890', 3),
      get(''),
    ]);
    for (const whole of [a, b, d]) expect(whole.equals(bytes)).toBe(true);
    expect(c.equals(bytes.subarray(1048570, 5242891))).toBe(true);
    expect(await Promise.all(served)).toEqual(['sent', 'sent', 'sent', 'sent']);
    // The pool's buffers are reused now: another round must still be byte for byte.
    expect((await get('', 1)).equals(bytes)).toBe(true);
  });

  it('stops, without hanging, when the client goes away mid-download', async () => {
    served.length = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}/`, { agent: false }, (res) => {
        let seen = 0;
        res.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > 2 * 1024 * 1024) req.destroy();
        });
        res.on('close', () => resolve());
      });
      req.on('error', () => resolve());
      setTimeout(() => reject(new Error('the client never closed')), 10_000).unref();
    });
    expect(await served[0]).toBe('ERR_STREAM_PREMATURE_CLOSE');
    expect((await get('')).equals(bytes)).toBe(true);
  });

  it('fails instead of padding when the stored file is shorter than the row says', async () => {
    served.length = 0;
    const claim = bytes.length + 1000;
    await get(`claim=${claim}&end=${claim - 1}`).catch(() => Buffer.alloc(0));
    expect(await served[0]).toMatch(/the stored file ended at byte 9437307, before the 9438307 bytes/);
  });
});
