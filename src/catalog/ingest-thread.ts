import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ROW } from '../events/event-schema';
import { HourBucket, ingestTotals, MetricUpdate } from './event-counts';
import { IngestError, prepareIngest } from './ingest-body';
import type { IngestReply, IngestRequest, WireRow } from './ingest-threads';

/** Rows (and buckets, and metrics) per reply: each is taken in by the server in one short turn of its event loop. */
const ROWS_PER_MESSAGE = 1000;

/** Checking bodies is background work: on Linux this thread runs at nice 10, so requests are answered first. */
try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 10);
} catch {
  // not Linux, or not permitted: normal priority
}

/** Prepared rows and their totals waiting for the server to ask for the next part. */
const ready = new Map<number, { rows: WireRow[]; counts: HourBucket[]; lastUpdates: MetricUpdate[] }>();

function sendPart(id: number): void {
  const job = ready.get(id);
  if (!job) return;
  const rows = job.rows.splice(0, ROWS_PER_MESSAGE);
  const counts = job.counts.splice(0, ROWS_PER_MESSAGE);
  const lastUpdates = job.lastUpdates.splice(0, ROWS_PER_MESSAGE);
  const last = !job.rows.length && !job.counts.length && !job.lastUpdates.length;
  if (last) ready.delete(id);
  parentPort!.postMessage({ id, rows, counts, lastUpdates, last } satisfies IngestReply);
}

/** This thread's own connection to the SQLite file, opened at the first checkpoint asked of it. */
let sqlite: Database.Database | undefined;

function checkpoint(id: number, file: string): void {
  try {
    sqlite ??= new Database(file, { fileMustExist: true });
    // PASSIVE: copies what it can without waiting for readers or writers, so the server never waits on it.
    sqlite.pragma('wal_checkpoint(PASSIVE)');
    parentPort!.postMessage({ id, checkpointed: true } satisfies IngestReply);
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message, rule: false } satisfies IngestReply);
  }
}

parentPort!.on('message', (message: IngestRequest) => {
  if (message.type === 'more') return sendPart(message.id);
  if (message.type === 'checkpoint') return checkpoint(message.id, message.file);
  const job = message;
  try {
    const rows = prepareIngest(job.body, job.datasetId, job.precision, job.receivedMicros);
    const { counts, lastUpdates } = ingestTotals(rows);
    // Hex, not Buffer: a small Buffer is a view of an 8 KB pool, and cloning it would copy the pool.
    ready.set(job.id, { rows: rows.map((row) => [...row.slice(0, ROW.identity), row[ROW.identity].toString('hex')] as WireRow), counts, lastUpdates });
    sendPart(job.id);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message, rule: err instanceof IngestError } satisfies IngestReply);
  }
});
