import crypto from 'node:crypto';
import fs from 'node:fs';
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
