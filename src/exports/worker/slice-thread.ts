import { parentPort, workerData } from 'node:worker_threads';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { sqliteFile } from '../../db/connection';
import { registerSqliteFunctions } from '../filter';
import { CSV } from '../formats/csv';
import { JSONL } from '../formats/jsonl';
import { lowerThisThreadsPriority } from './priority';
import { CHUNK_ROWS, CREDIT_CHUNKS, FORMAT_ROWS, SliceMessage, SLICE_GZIP, SliceThreadJob, sliceSelect, transferable } from '../sqlite-slices';

/**
 * One of the threads that read an SQLite export in ts slices (sqlite-slices.ts): for each of its slices,
 * in order, every CHUNK_ROWS rows are formatted (FORMAT_ROWS at a time) by the export's own format writer and compressed to one
 * gzip member, and both the data and the member go to the runner, which writes the slices in export
 * order. The runner acknowledges each chunk; with CREDIT_CHUNKS unacknowledged this thread waits, so a
 * thread ahead of the writer holds a bounded number of chunks whatever the export's size.
 */
async function readSlices(job: SliceThreadJob): Promise<void> {
  lowerThisThreadsPriority();
  const db = new Database(sqliteFile(job.databaseUrl), { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // The file is read through the OS page cache instead of copied into SQLite's own cache page by page.
  db.pragma(`mmap_size = ${job.mmapBytes}`);
  registerSqliteFunctions(db);
  let credit = CREDIT_CHUNKS;
  let waiting: (() => void) | null = null;
  parentPort!.on('message', (m: { type: 'ack' }) => {
    if (m.type !== 'ack') return;
    credit++;
    const wake = waiting;
    waiting = null;
    wake?.();
  });
  let pieces: string[] = [];
  // Only the text formats are read in slices; importing just them keeps the thread's start short.
  const writer = (job.params.format === 'JSONL' ? JSONL : CSV).writer(job.params, async (chunk) => {
    if (chunk.length) pieces.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  });
  const send = async (slice: number, rows: number, last: boolean) => {
    const plain = Buffer.from(pieces.length === 1 ? pieces[0] : pieces.join(''), 'utf8');
    pieces = [];
    const gz = plain.length ? zlib.gzipSync(plain, SLICE_GZIP) : Buffer.alloc(0);
    while (credit <= 0) await new Promise<void>((resolve) => (waiting = resolve));
    credit--;
    const message: SliceMessage = { type: 'chunk', slice, rows, last, plain: transferable(plain), gz: transferable(gz) };
    parentPort!.postMessage(message, [message.plain.buffer as ArrayBuffer, message.gz.buffer as ArrayBuffer]);
  };
  // One read transaction for every slice this thread reads: its rows all come from one snapshot.
  db.exec('BEGIN');
  try {
    for (const slice of job.slices) {
      const select = sliceSelect(job.params, writer.columns, slice, job.rowLimit);
      // Rows are formatted a batch at a time and dropped, so only text waits for the chunk to fill: the
      // young generation holds few row arrays when it is collected.
      let batch: unknown[][] = [];
      let inChunk = 0;
      for (const row of db.prepare(select.sql).raw(true).iterate(...select.params) as Iterable<unknown[]>) {
        batch.push(row);
        if (batch.length < FORMAT_ROWS) continue;
        await writer.rows(batch);
        inChunk += batch.length;
        batch = [];
        if (inChunk >= CHUNK_ROWS) {
          await send(slice.index, inChunk, false);
          inChunk = 0;
        }
      }
      if (batch.length) await writer.rows(batch);
      await send(slice.index, inChunk + batch.length, true);
    }
  } finally {
    db.exec('COMMIT');
    db.close();
  }
}

if (parentPort) {
  readSlices(workerData as SliceThreadJob).catch((err: NodeJS.ErrnoException) => {
    const message: SliceMessage = { type: 'error', message: err?.message ?? String(err), code: typeof err?.code === 'string' ? err.code : undefined };
    parentPort!.postMessage(message);
  });
}
