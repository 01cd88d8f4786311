import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { logger } from '../../logger';
import { digestOf } from './digest';
import { copyRange, READ_CHUNK } from './pooled-copy';
import { ByteRange, ExportStore, keyPrefixOf, OpenedFile, StoredDigest, StoredFile, StoreLocation, TempWriter } from './export-store';

const TEMP_SUFFIX = '.tmp';

/** A key names a file in the directory itself: no separators, no `..`, nothing a caller could steer elsewhere. */
function checkKey(key: string): string {
  if (!key || key.includes('/') || key.includes('\\') || key.includes('\0') || key === '.' || key === '..') {
    throw new Error(`not a key of the export store: ${JSON.stringify(key)}`);
  }
  return key;
}

/** Export files as plain files in one directory (EXPORTS_DIR), shared by every server and worker that mounts it. */
export class LocalDirStore implements ExportStore {
  readonly location: StoreLocation;

  constructor(private readonly dir: string) {
    this.location = { kind: 'local-dir', dir };
  }

  private fileOf(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  private tempOf(key: string): string {
    return this.fileOf(key) + TEMP_SUFFIX;
  }

  async prepare(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
  }

  createTemp(key: string): TempWriter {
    const file = this.tempOf(key);
    // `wx`: an attempt never writes over a file that is already there (its own name is unique to it).
    const out = fs.createWriteStream(file, { flags: 'wx' });
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST' || err.code === 'EISDIR') {
        const what = isDirectory(file) ? 'a directory' : 'a file';
        // Words an operator can act on, with the code kept for whoever searches the logs for it.
        err.message = `${what} is in the way of the attempt's temporary file ${path.basename(file)} in the exports directory (${err.code}): remove it from EXPORTS_DIR, then export again`;
      }
    });
    return out;
  }

  async commit(key: string): Promise<void> {
    const target = this.fileOf(key);
    if (isDirectory(target)) {
      const err: NodeJS.ErrnoException = new Error(`a directory is in the way of the export's file ${key} in the exports directory (EISDIR): remove it from EXPORTS_DIR, then export again`);
      err.code = 'EISDIR';
      throw err;
    }
    await fs.promises.rename(this.tempOf(key), target);
  }

  async discardTemp(key: string): Promise<void> {
    await this.removeFile(this.tempOf(key));
  }

  async discardAttemptsBut(exportId: string, keep: string): Promise<void> {
    const prefix = keyPrefixOf(exportId);
    const kept = path.basename(this.tempOf(keep));
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch (err) {
      logger.warn({ err: (err as Error).message, export: exportId }, 'could not list the exports directory for stale attempts');
      return;
    }
    for (const name of names) if (name.startsWith(prefix) && name !== kept) await this.removeFile(path.join(this.dir, name));
  }

  async stat(key: string): Promise<StoredFile | null> {
    try {
      const s = await fs.promises.stat(this.fileOf(key));
      return s.isFile() ? { size: s.size } : null;
    } catch {
      return null;
    }
  }

  read(key: string, range?: ByteRange): Readable {
    return fs.createReadStream(this.fileOf(key), { start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
  }

  async open(key: string, knownSize?: number | null): Promise<OpenedFile | null> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.fileOf(key), 'r');
    } catch {
      return null;
    }
    let size = knownSize ?? null;
    if (size === null) {
      const s = await handle.stat().catch(() => null);
      if (!s?.isFile()) {
        await handle.close().catch(() => undefined);
        return null;
      }
      size = s.size;
    }
    const bytes = size;
    let used = false;
    return {
      size: bytes,
      read: (range) => {
        used = true;
        return fs.createReadStream('', { fd: handle, start: range?.start, end: range?.end, highWaterMark: READ_CHUNK, autoClose: true });
      },
      copyTo: async (sink, range) => {
        used = true;
        try {
          await copyRange((buf, length, position) => handle.read(buf, 0, length, position).then((r) => r.bytesRead), sink, range ?? { start: 0, end: bytes - 1 });
        } finally {
          await handle.close().catch(() => undefined);
        }
      },
      close: async () => {
        if (!used) await handle.close().catch(() => undefined);
      },
    };
  }

  digest(key: string): Promise<StoredDigest> {
    return digestOf(this.read(key));
  }

  async remove(key: string): Promise<void> {
    await this.removeFile(this.fileOf(key));
  }

  /**
   * Removes a file we wrote. Anything else at its name (a directory someone made) is left where it is and
   * logged: this store deletes only files, and a failed removal never takes the worker down.
   */
  private async removeFile(file: string): Promise<void> {
    try {
      await fs.promises.rm(file, { force: true });
    } catch (err) {
      logger.warn({ err: (err as Error).message, code: (err as NodeJS.ErrnoException).code, name: path.basename(file) }, 'could not remove a file in the exports directory; it is left there');
    }
  }
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
