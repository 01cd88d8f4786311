import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { CSV } from './formats/csv';
import { FormatWriter } from './formats/format';
import { deflatePiece } from './gzip-member';
import { JSONL } from './formats/jsonl';
import { ExportParams } from './params';
import { exportWhere, toMicros } from './export-query';
import { eventOrder } from './query/ordering';

/**
 * SQLite reads an export's rows on the thread that steps the statement: better-sqlite3 making the row
 * values is most of an SQLite export's time, and one thread cannot keep up with the `sqlite3` shell. So a
 * large export on SQLite is read by two threads (the runner and a helper), each with its own connection, in ts
 * slices of the export's range (slice i holds ts in [from_i, to_i), in export order). Each thread formats
 * and deflates its rows, CHUNK_ROWS at a time, as pieces of one gzip member (gzip-member.ts); the runner
 * hashes the data and writes the pieces slice by slice, so the file and its sha256 are those of the rows
 * in export order, and the file is a single gzip member as a one-thread export's is.
 *
 * The pieces' boundaries depend only on the data (the slices come from the range's first and last ts
 * and the row count), so the same data gives the same stored bytes.
 */

/** Rows per slice, by the estimate: small enough to balance two threads, large enough to be few statements. */
export const SLICE_ROWS = 65_536;
/** Rows per deflated piece: about 1 MB of CSV, where a piece's fresh dictionary costs about 0.5 % in size. */
export const CHUNK_ROWS = 16_384;
/** Chunks a thread may have sent and not had acknowledged: what bounds the memory of a thread ahead. */
export const CREDIT_CHUNKS = 6;
/** Rows handed to the format writer at a time; CHUNK_ROWS is a multiple, so pieces hold whole batches. */
export const FORMAT_ROWS = 2048;
/** Threads reading at once: this one and one helper. */
export const SLICE_THREADS = 2;
/** Below this many rows, starting threads costs more than it saves. */
export const PARALLEL_MIN_ROWS = 200_000;

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
}

export type SliceMessage =
  | { type: 'chunk'; slice: number; rows: number; last: boolean; plain: Uint8Array; deflated: Uint8Array }
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
  /** `plain` as deflatePiece made it. */
  deflated: Buffer;
  /** The slice's last chunk (it may hold no rows). */
  last: boolean;
}

/**
 * Reads slices on one connection: the rows of each are formatted FORMAT_ROWS at a time by the export's
 * own writer (dropped once formatted, so the young generation holds few row arrays when collected), and
 * every CHUNK_ROWS rows become one chunk: the text and its deflated piece.
 */
export class SliceReader {
  /**
   * A batch's text becomes bytes at once: the writer's text is a rope of thousands of small strings, and
   * ropes held until a chunk is full survived young collections (about a quarter of a reading thread's
   * time went to the collector); bytes live outside the heap and are joined once.
   */
  private pieces: Buffer[] = [];
  private readonly writer: FormatWriter;

  constructor(private readonly db: Database, private readonly params: ExportParams, private readonly rowLimit: number) {
    // Only the text formats are read in slices.
    this.writer = (params.format === 'JSONL' ? JSONL : CSV).writer(params, async (chunk) => {
      if (chunk.length) this.pieces.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    });
  }

  async read(slice: Slice, onChunk: (chunk: SliceChunk) => Promise<void>): Promise<void> {
    const select = sliceSelect(this.params, this.writer.columns, slice, this.rowLimit);
    const chunk = (rows: number, last: boolean): SliceChunk => {
      const plain = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces);
      this.pieces = [];
      return { rows, plain, deflated: deflatePiece(plain), last };
    };
    let batch: unknown[][] = [];
    let inChunk = 0;
    for (const row of this.db.prepare(select.sql).raw(true).iterate(...select.params) as Iterable<unknown[]>) {
      batch.push(row);
      if (batch.length < FORMAT_ROWS) continue;
      await this.writer.rows(batch);
      inChunk += batch.length;
      batch = [];
      if (inChunk >= CHUNK_ROWS) {
        await onChunk(chunk(inChunk, false));
        inChunk = 0;
      }
    }
    if (batch.length) await this.writer.rows(batch);
    await onChunk(chunk(inChunk + batch.length, true));
  }
}

/**
 * Reads the slices in export order and hands their chunks to `onChunk`, one at a time: this thread reads
 * the even slices itself on `db`, a helper thread (slice-thread.ts, its own connection) the odd ones,
 * and works ahead by at most CREDIT_CHUNKS chunks. One helper, not two: every thread is a V8 heap of its
 * own, and a second one cost about 100 MB of RSS for no more cores. A failing helper fails the whole read
 * (with its code, so a fault is told from a failure); it is stopped before this returns or throws.
 * Both connections hold one read transaction from before their first slice to after their last.
 */
export async function readInSlices(
  db: Database,
  job: Omit<SliceThreadJob, 'slices'>,
  slices: Slice[],
  onChunk: (chunk: SliceChunk) => Promise<void>,
): Promise<void> {
  const queue: SliceMessage[] = [];
  let waker: (() => void) | null = null;
  let failure: Error | null = null;
  const wake = () => {
    const w = waker;
    waker = null;
    w?.();
  };
  const fail = (err: Error) => {
    failure ??= err;
    wake();
  };
  const theirs = slices.filter((s) => s.index % SLICE_THREADS === 1);
  const helper = theirs.length
    ? new Worker(path.join(__dirname, 'worker', 'slice-thread.js'), {
        workerData: { ...job, slices: theirs } satisfies SliceThreadJob,
        // A small young generation: the helper's garbage is row arrays that die within a batch, so 8 MB
        // collects as cheaply as V8's default and keeps the helper's RSS about 30 MB lower.
        resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 8 },
      })
    : null;
  const reader = new SliceReader(db, job.params, job.rowLimit);
  db.exec('BEGIN');
  try {
    if (helper) {
      helper.on('message', (m: SliceMessage) => {
        if (m.type === 'error') fail(Object.assign(new Error(m.message), { code: m.code }));
        else {
          queue.push(m);
          wake();
        }
      });
      helper.on('error', fail);
      helper.on('exit', (code) => {
        if (code !== 0) fail(new Error(`the thread reading the export's rows with this one stopped (exit code ${code})`));
      });
    }
    const next = async (): Promise<Extract<SliceMessage, { type: 'chunk' }>> => {
      for (;;) {
        if (failure) throw failure;
        const m = queue.shift();
        if (m) return m as Extract<SliceMessage, { type: 'chunk' }>;
        await new Promise<void>((resolve) => (waker = resolve));
      }
    };
    for (const slice of slices) {
      if (slice.index % SLICE_THREADS === 0) {
        await reader.read(slice, async (chunk) => {
          if (failure) throw failure;
          if (chunk.rows) await onChunk(chunk);
        });
        continue;
      }
      for (;;) {
        const m = await next();
        if (m.slice !== slice.index) throw new Error(`slice ${m.slice} arrived where slice ${slice.index} was expected`);
        helper!.postMessage({ type: 'ack' });
        if (m.rows) {
          await onChunk({
            rows: m.rows,
            plain: Buffer.from(m.plain.buffer, m.plain.byteOffset, m.plain.byteLength),
            deflated: Buffer.from(m.deflated.buffer, m.deflated.byteOffset, m.deflated.byteLength),
            last: m.last,
          });
        }
        if (m.last) break;
      }
    }
  } finally {
    db.exec('COMMIT');
    await helper?.terminate();
  }
}
