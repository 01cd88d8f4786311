import crypto from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import mysql from 'mysql2';
import { Dialect, dialectOf, mysqlConnectionOptions, sqliteFile } from '../db/connection';
import { buildExportQuery } from './export-query';
import { registerSqliteFunctions } from './filter';
import { formatOf, storedAs } from './formats';
import { manifestOf, ZipPackage } from './formats/zip';
import { ExportParams } from './params';
import { openExportStore, StoreLocation } from './storage';
import { MARIADB_REGEX_WARNING, regexLimitMessage, regexPatternsOf } from './regex';
import { lowerThisThreadsPriority } from './worker/priority';
import { deflatePiece, GZIP_HEADER, GzipMember } from './gzip-member';
import { onlyIndexedConditions, PARALLEL_MIN_ROWS, readInSlices, Slice, SliceChunk, SlicePlan, slicesOf, SliceThreadJob } from './sqlite-slices';

/** What the runner reports while it works; the owner of the export row turns these into guarded writes. */
export type RunnerMessage =
  | { type: 'estimate'; records: number }
  | { type: 'progress'; processed: number }
  | {
      type: 'done'; records: number; sizeInBytes: number; compressedSizeInBytes: number; sha256: string; truncated: boolean;
      /** When the file was finished (a ZIP's manifest holds it too). */
      completedOn: number;
    };

export interface RunnerJob {
  databaseUrl: string;
  exportId: string;
  params: ExportParams;
  /** Where the file goes: the store's location and the attempt's key (never a path, so any store will do). */
  fileStore: StoreLocation;
  fileKey: string;
  /** The count made when the export was queued; 0 means the runner counts. */
  knownEstimate: number;
  /** SQLite: large CSV/JSONL exports may be read on two threads (SLUICE_SLICED_EXPORTS). */
  slicedExports: boolean;
}

/** Rows formatted and written at a time: coalescing keeps gzip and the writers efficient. */
const BATCH_ROWS = 2000;
const PROGRESS_EVERY_MS = 200;
const GZIP_LEVEL = 6;
/**
 * zlib deflates on the libuv thread pool, so it can run beside this thread's row decoding and formatting.
 * With the stream's default 16 KiB buffer every batch (~100 KiB of CSV) waited for gzip to drain, with the
 * row stream paused: one wait per batch, and the two cores took turns. A 1 MiB buffer (about ten batches,
 * still bounded) lets formatting run ahead; the writer waits only when gzip itself is behind. Bigger output
 * chunks mean fewer hops from the pool back to this thread. The bytes are the same.
 */
const GZIP_STREAM = { level: GZIP_LEVEL, chunkSize: 64 * 1024, writableHighWaterMark: 1024 * 1024 };

type RowSource = (onBatch: (rows: unknown[][]) => Promise<void> | void) => Promise<void>;

interface Store {
  count(sql: string, params: unknown[]): Promise<number>;
  /** SQLite: the export's range in slices for the slice threads (sqlite-slices.ts); null elsewhere or when empty. */
  slices(params: ExportParams): SlicePlan | null;
  /** SQLite: reads the slices, this connection and a helper thread's taking turns (readInSlices). */
  readSlices(job: Omit<SliceThreadJob, 'slices'>, slices: Slice[], onChunk: (chunk: SliceChunk) => Promise<void>): Promise<void>;
  /** The export's own row, for a ZIP's manifest. */
  exportRow(id: string): Promise<{ name: string | null; requestedOn: number }>;
  rows(sql: string, params: unknown[]): RowSource;
  /** Whether the last statement hit MariaDB's regex step limit (a warning there, not an error). */
  regexLimitHit(): Promise<boolean>;
  close(): Promise<void>;
}

function exportRowOf(row: unknown): { name: string | null; requestedOn: number } {
  if (!row) throw new Error('the export was removed while it was generating');
  const r = row as { name: string | null; requested_on: number | string };
  return { name: r.name, requestedOn: Number(r.requested_on) };
}

async function openStore(databaseUrl: string): Promise<Store> {
  const dialect: Dialect = dialectOf(databaseUrl);
  if (dialect === 'sqlite') {
    const db = new Database(sqliteFile(databaseUrl), { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    registerSqliteFunctions(db);
    return {
      count: async (sql, params) => Number((db.prepare(sql).get(...params) as { n: number }).n),
      slices: (params) => slicesOf(db, params),
      readSlices: (job, slices, onChunk) => readInSlices(db, job, slices, onChunk),
      exportRow: async (id) => exportRowOf(db.prepare('SELECT name, requested_on FROM data_export WHERE id = ?').get(id)),
      rows: (sql, params) => async (onBatch) => {
        let batch: unknown[][] = [];
        for (const row of db.prepare(sql).raw(true).iterate(...params) as Iterable<unknown[]>) {
          batch.push(row);
          if (batch.length >= BATCH_ROWS) {
            await onBatch(batch);
            batch = [];
          }
        }
        if (batch.length) await onBatch(batch);
      },
      regexLimitHit: async () => false, // RE2: no step limit to hit
      close: async () => void db.close(),
    };
  }
  const conn = mysql.createConnection({ ...mysqlConnectionOptions(databaseUrl), supportBigNumbers: true, bigNumberStrings: false });
  const query = <T>(sql: string, params: unknown[]) =>
    new Promise<T>((resolve, reject) => conn.query(sql, params, (err, res) => (err ? reject(err) : resolve(res as T))));
  return {
    count: async (sql, params) => Number((await query<{ n: number }[]>(sql, params))[0].n),
    slices: () => null,
    readSlices: async () => {
      throw new Error('only SQLite exports are read in slices');
    },
    exportRow: async (id) => exportRowOf((await query<unknown[]>('SELECT name, requested_on FROM data_export WHERE id = ?', [id]))[0]),
    // Streams the result set, pausing the socket while gzip catches up, so memory stays flat.
    rows: (sql, params) => (onBatch) =>
      new Promise<void>((resolve, reject) => {
        let batch: unknown[][] = [];
        let failed = false;
        const q = conn.query({ sql, values: params, rowsAsArray: true });
        const flush = (rows: unknown[][]) => {
          const pending = onBatch(rows);
          if (pending) {
            conn.pause();
            pending.then(() => conn.resume(), (err) => { failed = true; reject(err); });
          }
        };
        q.on('result', (row) => {
          if (failed) return;
          batch.push(row as unknown as unknown[]);
          if (batch.length >= BATCH_ROWS) {
            const full = batch;
            batch = [];
            flush(full);
          }
        });
        q.on('error', (err) => { failed = true; reject(err); });
        q.on('end', () => {
          if (failed) return;
          Promise.resolve(batch.length ? onBatch(batch) : undefined).then(() => resolve(), reject);
        });
      }),
    regexLimitHit: async () => (await query<{ Code: number }[]>('SHOW WARNINGS', [])).some((w) => Number(w.Code) === MARIADB_REGEX_WARNING),
    // destroy, not end: after a failure the connection may be paused mid-result, and end would wait on it.
    close: async () => conn.destroy(),
  };
}

/** Rows turned up past the estimate while slices were read: the export is made again on one thread, which cuts exactly. */
class OverEstimate extends Error {}

/**
 * Query -> format writer -> (gzip | as is | ZIP entry) -> temporary file. Streams in batches and waits for
 * the file to drain, so memory does not grow with the export. Runs inside a worker thread: the format
 * work never blocks the server. A large gzip-stored export on SQLite is read by slice threads instead
 * (sqlite-slices.ts) when its estimate says it ends before any limit: the limit and the cap are cut
 * exactly by the one-thread path, so an export that turns out longer than its estimate is made again there.
 */
export async function runExport(job: RunnerJob, report: (m: RunnerMessage) => void): Promise<void> {
  lowerThisThreadsPriority();
  try {
    await generate(job, report, job.slicedExports);
  } catch (err) {
    if (!(err instanceof OverEstimate)) throw err;
    await openExportStore(job.fileStore).discardTemp(job.fileKey);
    await generate(job, report, false);
  }
}

async function generate(job: RunnerJob, report: (m: RunnerMessage) => void, slicesAllowed: boolean): Promise<void> {
  const store = await openStore(job.databaseUrl);
  const format = formatOf(job.params);
  const stored = storedAs(job.params);
  const file = openExportStore(job.fileStore).createTemp(job.fileKey);
  const fileDone = once(file, 'close');
  let failure: (err: Error) => void = () => undefined;
  const fileError = new Promise<never>((_, reject) => (failure = reject));
  fileError.catch(() => undefined);
  file.on('error', failure);
  let sink: Writable = file;
  let zip: ZipPackage | undefined;
  const hash = crypto.createHash('sha256');
  let size = 0;
  const write = async (bytes: Buffer) => {
    if (!sink.write(bytes)) await Promise.race([once(sink, 'drain'), fileError]);
  };
  const out = async (chunk: Buffer | string) => {
    if (!chunk.length) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    hash.update(bytes);
    size += bytes.length;
    await write(bytes);
  };
  try {
    const writer = format.writer(job.params, out);
    const query = buildExportQuery(job.params, writer.columns, dialectOf(job.databaseUrl));
    const cap = query.capApplies ? query.rowLimit - 1 : query.rowLimit;
    let estimate = job.knownEstimate;
    const sliceable = slicesAllowed && stored === 'gzip' && !job.params.latest && (format.name === 'CSV' || format.name === 'JSONL');
    // Planning costs a few index look-ups: skipped when the queue's count already rules slices out.
    const plan = sliceable && (!estimate || (estimate >= PARALLEL_MIN_ROWS && estimate < cap)) ? store.slices(job.params) : null;
    if (!job.knownEstimate && query.count) {
      // The queue's own count has not landed yet. With no condition but datasets and range, the index
      // count just made is that count (rows received after the request aside), without a second read.
      estimate = Math.min(plan && onlyIndexedConditions(job.params) ? plan.indexed : await store.count(query.count, query.params), cap);
      report({ type: 'estimate', records: estimate });
    }
    const slices = plan && estimate >= PARALLEL_MIN_ROWS && estimate < cap ? plan.slices : null;
    if (stored === 'gzip' && !slices) {
      const gzip = zlib.createGzip(GZIP_STREAM);
      gzip.on('error', failure);
      gzip.pipe(file);
      sink = gzip;
    } else if (stored === 'zip') {
      zip = new ZipPackage(file, failure);
    }
    const row = zip ? await store.exportRow(job.exportId) : undefined;
    if (zip && row) sink = zip.beginEntry(`events.${format.extension}`, row.requestedOn, format.storedCompression === 'gzip');
    const hasRegex = regexPatternsOf(job.params.filter).length > 0;

    let records = 0;
    let truncated = false;
    let lastReport = Date.now();
    const progress = () => {
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        report({ type: 'progress', processed: records });
      }
    };
    if (slices) {
      // One gzip member of pieces, written as they come: the preamble, each chunk, the ending.
      const member = new GzipMember();
      await write(GZIP_HEADER);
      const piece = async (text: Buffer, deflated: Buffer) => {
        hash.update(text);
        size += text.length;
        member.add(text);
        await write(deflated);
      };
      const own = format.writer(job.params, async (chunk) => {
        const text = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        if (text.length) await piece(text, deflatePiece(text));
      });
      await own.begin();
      await store.readSlices({ databaseUrl: job.databaseUrl, params: job.params, rowLimit: query.rowLimit }, slices, async (chunk) => {
        if (records + chunk.rows > cap) throw new OverEstimate();
        records += chunk.rows;
        await piece(chunk.plain, chunk.deflated);
        progress();
      });
      await own.end();
      await write(member.end());
    } else {
      await writer.begin();
      await store.rows(query.select, query.params)(async (rows) => {
        if (truncated) return;
        if (query.capApplies && records + rows.length > cap) {
          rows = rows.slice(0, cap - records);
          truncated = true;
        }
        records += rows.length;
        await writer.rows(rows);
        progress();
      });
    }
    if (hasRegex && (await store.regexLimitHit())) throw new Error(regexLimitMessage(job.params.filter));
    if (!slices) await writer.end();
    const sha256 = hash.digest('hex');
    const completedOn = Date.now();
    if (zip && row) {
      sink.end();
      zip.finish(JSON.stringify(manifestOf(job, row, { completedOn, records, truncated, sha256, sizeInBytes: size }), null, 2) + '\n', row.requestedOn);
    } else sink.end();
    await Promise.race([fileDone, fileError]);
    report({ type: 'progress', processed: records });
    report({ type: 'done', records, sizeInBytes: size, compressedSizeInBytes: file.bytesWritten, sha256, truncated, completedOn });
  } catch (err) {
    sink.destroy();
    file.destroy();
    throw err;
  } finally {
    await store.close();
  }
}
