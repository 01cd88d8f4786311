import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { sqliteFile } from '../../db/connection';
import { registerSqliteFunctions } from '../filter';
import { CREDIT_CHUNKS, SliceMessage, SliceReader, SliceThreadJob, transferable } from '../sqlite-slices';
import { lowerThisThreadsPriority } from './priority';

/**
 * The helper thread of an SQLite export read in ts slices (sqlite-slices.ts): it reads its slices in
 * order on its own read-only connection and sends each chunk (the text and its deflated piece) to the
 * runner, which writes the slices in export order. The runner acknowledges each chunk; with CREDIT_CHUNKS
 * unacknowledged this thread waits, so what it holds ahead of the writer is bounded whatever the size.
 */
async function readSlices(job: SliceThreadJob): Promise<void> {
  lowerThisThreadsPriority();
  // No mmap_size: mapped pages of the database count in the process's RSS (once per connection), so a
  // 260 MB store read on two connections showed as 580 MB, for about 8 % less reading time.
  const db = new Database(sqliteFile(job.databaseUrl), { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
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
  const reader = new SliceReader(db, job.params, job.rowLimit);
  // One read transaction for every slice this thread reads: its rows all come from one snapshot.
  db.exec('BEGIN');
  try {
    for (const slice of job.slices) {
      await reader.read(slice, async (chunk) => {
        while (credit <= 0) await new Promise<void>((resolve) => (waiting = resolve));
        credit--;
        const message: SliceMessage = { type: 'chunk', slice: slice.index, rows: chunk.rows, last: chunk.last, plain: transferable(chunk.plain), deflated: transferable(chunk.deflated) };
        parentPort!.postMessage(message, [message.plain.buffer as ArrayBuffer, message.deflated.buffer as ArrayBuffer]);
      });
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
