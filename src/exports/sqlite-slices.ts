import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { ExportParams } from './params';
import { exportWhere, toMicros } from './export-query';
import { eventOrder } from './query/ordering';

/**
 * SQLite reads an export's rows on the thread that steps the statement: better-sqlite3 making the row
 * values is most of an SQLite export's time, and one thread cannot keep up with the `sqlite3` shell. So a
 * large export on SQLite is read by SLICE_THREADS threads, each with its own read-only connection, in ts
 * slices of the export's range (slice i holds ts in [from_i, to_i), in export order). Each thread formats
 * and compresses its rows, CHUNK_ROWS at a time, to one gzip member each; the runner hashes the data and
 * writes the members slice by slice, so the file and its sha256 are those of the rows in export order.
 *
 * The members' boundaries depend only on the data (the slices come from the range's first and last ts
 * and the row count), so the same data gives the same stored bytes.
 */

/** Rows per slice, by the estimate: small enough to balance two threads, large enough to be few statements. */
export const SLICE_ROWS = 65_536;
/** Rows per gzip member: about 1 MB of CSV, where a member's fresh dictionary costs about 0.5 % in size. */
export const CHUNK_ROWS = 16_384;
/** Chunks a thread may have sent and not had acknowledged: what bounds the memory of a thread ahead. */
export const CREDIT_CHUNKS = 6;
/** Rows handed to the format writer at a time; CHUNK_ROWS is a multiple, so members hold whole batches. */
export const FORMAT_ROWS = 2048;
export const SLICE_THREADS = 2;
/** Below this many rows, starting threads costs more than it saves. */
export const PARALLEL_MIN_ROWS = 200_000;
export const SLICE_GZIP = { level: 6 } as const;
const MMAP_BYTES = 1024 * 1024 * 1024;

export interface Slice {
  index: number;
  /** µs, inclusive. */
  from: number;
  /** µs, exclusive. */
  to: number;
}

export interface SliceThreadJob {
  databaseUrl: string;
  params: ExportParams;
  rowLimit: number;
  slices: Slice[];
  mmapBytes: number;
}

export type SliceMessage =
  | { type: 'chunk'; slice: number; rows: number; last: boolean; plain: Uint8Array; gz: Uint8Array }
  | { type: 'error'; message: string; code?: string };

/** A buffer that owns all of its ArrayBuffer can be moved to another thread instead of copied. */
export function transferable(buf: Buffer): Uint8Array {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? buf : new Uint8Array(buf);
}

/** The SELECT of one slice: the export's own WHERE on the slice's part of the range, in export order. */
export function sliceSelect(params: ExportParams, columns: string[], slice: Slice, rowLimit: number): { sql: string; params: unknown[] } {
  const where = exportWhere(params, 'sqlite', { from: slice.from, to: slice.to });
  return { sql: `SELECT ${columns.join(', ')} FROM event WHERE ${where.sql} ORDER BY ${eventOrder(params.order)} LIMIT ${rowLimit}`, params: where.params };
}

/** The range's events in the index (dataset and ts only): at least the export's rows, counted without reading a row. */
export interface SlicePlan {
  indexed: number;
  slices: Slice[];
}

/**
 * The export's range cut into slices in export order, or null when there is nothing to cut (no event in
 * range). The first and last ts and the count come from idx_event_dataset_ts alone (two seeks and a
 * covering count per dataset). The width comes from that count, not from the export's estimate (which may
 * be sampled), so that the members' boundaries depend on the stored data alone.
 */
export function slicesOf(db: Database, params: ExportParams): SlicePlan | null {
  const from = toMicros(params.from);
  const to = toMicros(params.to);
  const range = `${from === null ? '' : ' AND ts >= ?'}${to === null ? '' : ' AND ts < ?'}`;
  const args = [...(from === null ? [] : [from]), ...(to === null ? [] : [to])];
  let lo = Infinity;
  let hi = -Infinity;
  let indexed = 0;
  for (const id of params.datasetIds) {
    const min = db.prepare(`SELECT min(ts) AS t FROM event WHERE dataset_id = ?${range}`).get(id, ...args) as { t: number | null };
    const max = db.prepare(`SELECT max(ts) AS t FROM event WHERE dataset_id = ?${range}`).get(id, ...args) as { t: number | null };
    indexed += Number((db.prepare(`SELECT count(*) AS n FROM event WHERE dataset_id = ?${range}`).get(id, ...args) as { n: number }).n);
    if (min.t !== null) lo = Math.min(lo, Number(min.t));
    if (max.t !== null) hi = Math.max(hi, Number(max.t));
  }
  if (lo > hi) return null;
  const end = hi + 1;
  const count = Math.max(SLICE_THREADS, Math.ceil(indexed / SLICE_ROWS));
  const width = Math.max(1, Math.ceil((end - lo) / count));
  const slices: Slice[] = [];
  for (let start = lo; start < end; start += width) slices.push({ index: 0, from: start, to: Math.min(end, start + width) });
  if (params.order === 'DESC') slices.reverse();
  slices.forEach((s, i) => (s.index = i));
  return { indexed, slices };
}

/** No condition beyond datasets, range and the snapshot: the index count is the export's count, give or take late rows. */
export function onlyIndexedConditions(params: ExportParams): boolean {
  const filter = params.filter as object | null | undefined;
  return !params.metrics?.length && (filter == null || Object.keys(filter).length === 0) && params.receivedAfter == null && params.receivedUpTo == null;
}

export interface SliceChunk {
  rows: number;
  plain: Buffer;
  gz: Buffer;
}

/**
 * Runs the slice threads and hands their chunks to `onChunk` in export order, one at a time. A failing
 * thread fails the whole read (with its code, so a fault is told from a failure); every thread is
 * stopped before this returns or throws.
 */
export async function readInSlices(
  job: Omit<SliceThreadJob, 'slices' | 'mmapBytes'>,
  slices: Slice[],
  onChunk: (chunk: SliceChunk) => Promise<void>,
): Promise<void> {
  const threads = Math.min(SLICE_THREADS, slices.length);
  const queues: SliceMessage[][] = [];
  const wakers: ((() => void) | null)[] = [];
  let failure: Error | null = null;
  const workers: Worker[] = [];
  const wake = (t: number) => {
    const w = wakers[t];
    wakers[t] = null;
    w?.();
  };
  const fail = (err: Error) => {
    failure ??= err;
    for (let t = 0; t < threads; t++) wake(t);
  };
  try {
    for (let t = 0; t < threads; t++) {
      queues.push([]);
      wakers.push(null);
      const mine = slices.filter((s) => s.index % threads === t);
      const worker = new Worker(path.join(__dirname, 'worker', 'slice-thread.js'), {
        workerData: { ...job, slices: mine, mmapBytes: MMAP_BYTES } satisfies SliceThreadJob,
        resourceLimits: { maxOldGenerationSizeMb: 96 },
      });
      worker.on('message', (m: SliceMessage) => {
        if (m.type === 'error') {
          fail(Object.assign(new Error(m.message), { code: m.code }));
          return;
        }
        queues[t].push(m);
        wake(t);
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0) fail(new Error(`a thread reading the export's rows stopped (exit code ${code})`));
      });
      workers.push(worker);
    }
    const next = async (t: number): Promise<Extract<SliceMessage, { type: 'chunk' }>> => {
      for (;;) {
        if (failure) throw failure;
        const m = queues[t].shift();
        if (m) return m as Extract<SliceMessage, { type: 'chunk' }>;
        await new Promise<void>((resolve) => (wakers[t] = resolve));
      }
    };
    for (const slice of slices) {
      const t = slice.index % threads;
      for (;;) {
        const m = await next(t);
        if (m.slice !== slice.index) throw new Error(`slice ${m.slice} arrived where slice ${slice.index} was expected`);
        workers[t].postMessage({ type: 'ack' });
        if (m.rows) {
          await onChunk({
            rows: m.rows,
            plain: Buffer.from(m.plain.buffer, m.plain.byteOffset, m.plain.byteLength),
            gz: Buffer.from(m.gz.buffer, m.gz.byteOffset, m.gz.byteLength),
          });
        }
        if (m.last) break;
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
