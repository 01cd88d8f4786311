import { Readable, Writable } from 'node:stream';
import { formatOf, storedAs } from '../formats';
import { ExportParams } from '../params';

/**
 * Where an export's file lives, as a key and streams, never a path: the local directory is one store,
 * S3-compatible storage will be another. Every module that touches an export's bytes goes through here.
 *
 * An attempt writes its file under a temporary name (`createTemp`), and `commit` makes it visible under
 * its key in one step (a rename, or an upload's completion); a reader never sees half a file.
 */
export interface ExportStore {
  /** Enough to open the same store elsewhere (a runner thread gets it through its workerData). */
  readonly location: StoreLocation;
  /** Makes the store ready to write into (the directory exists). */
  prepare(): Promise<void>;
  /** The attempt's temporary file, opened for writing; it fails (an `error` event) when one is already there. */
  createTemp(key: string): TempWriter;
  /** Makes the temporary file of `key` the stored file `key`. */
  commit(key: string): Promise<void>;
  /** Removes the temporary file of `key` if there is one; never throws (a removal that fails is logged). */
  discardTemp(key: string): Promise<void>;
  /** Removes every file and temporary file of an export except the temporary file of `keep`: earlier attempts are dead. */
  discardAttemptsBut(exportId: string, keep: string): Promise<void>;
  /** Size of the stored file, or null when there is none. */
  stat(key: string): Promise<StoredFile | null>;
  /** The stored bytes, whole or bytes start..end (inclusive). */
  read(key: string, range?: ByteRange): Readable;
  /**
   * The stored file held open for one download, or null when there is none: opening is the one wait
   * before the first byte (no separate stat). `size` is the caller's when it knows it (the export row
   * holds it), else read from the open file. The caller reads once or closes it.
   */
  open(key: string, knownSize?: number | null): Promise<OpenedFile | null>;
  /** Size and sha256 of the stored bytes, read back from the store. */
  digest(key: string): Promise<StoredDigest>;
  /** Deletes the stored file; a missing one is not an error. */
  remove(key: string): Promise<void>;
}

export interface OpenedFile {
  readonly size: number;
  /** The bytes, whole or start..end (inclusive); the file is closed when the stream ends or fails. */
  read(range?: ByteRange): Readable;
  /**
   * Writes the bytes, whole or start..end (inclusive), into `sink` and ends it, then closes the file: the
   * download's way when the bytes go out as they are stored (no decoding on the way).
   */
  copyTo(sink: Writable, range?: ByteRange): Promise<void>;
  /** Closes the file when it will not be read (HEAD, 304, 416). */
  close(): Promise<void>;
}

/** A store's address, serialisable (structured clone) for a worker thread. */
export type StoreLocation = { kind: 'local-dir'; dir: string };

export interface TempWriter extends Writable {
  /** Bytes written to the temporary file so far. */
  readonly bytesWritten: number;
}

export interface StoredFile {
  size: number;
}

export interface StoredDigest {
  size: number;
  sha256: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

type Stored = Pick<ExportParams, 'format' | 'packaging'>;

/** How the stored file ends: `csv.gz`, `jsonl.gz`, `parquet`, `xlsx`, or `zip` for any format packed in a ZIP. */
export function storedExtension(params: Stored): string {
  const stored = storedAs(params);
  if (stored === 'zip') return 'zip';
  return stored === 'gzip' ? `${formatOf(params).extension}.gz` : formatOf(params).extension;
}

/** The name a user gets: `<name or id>.<ext>`, `.zip` when packed. */
export function downloadExtension(params: Stored): string {
  return storedAs(params) === 'zip' ? 'zip' : formatOf(params).extension;
}

/**
 * The key of an attempt's file (kept in the row's `file_name`). The attempt is in every key, so a stale
 * worker never touches another attempt's file; every key of an export starts with `<id>.`.
 */
export const exportKey = (id: string, attempt: number, params: Stored = {}) => `${id}.${attempt}.${storedExtension(params)}`;
export const keyPrefixOf = (id: string) => `${id}.`;
