import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DataSource } from 'typeorm';
import { logger } from '../logger';
import { EventRow, ROW } from '../events/event-schema';
import { HourBucket, IngestTotals, MetricUpdate } from './event-counts';
import { IngestError } from './ingest-body';
import type { InputPrecision } from './events';

export interface IngestJob {
  type: 'job';
  id: number;
  body: Uint8Array;
  datasetId: number;
  precision: InputPrecision;
  receivedMicros: number;
}

/** The server asks for each next part only once it has taken in the last, so parts never pile up. */
export type IngestRequest = IngestJob | { type: 'more'; id: number } | { type: 'checkpoint'; id: number; file: string };
/** An EventRow with its identity in hex. */
export type WireRow = [...unknown[]];
export type IngestReply =
  | { id: number; rows: WireRow[]; counts: HourBucket[]; lastUpdates: MetricUpdate[]; last: boolean }
  | { id: number; checkpointed: true }
  | { id: number; error: string; rule: boolean };

/** Checked rows with what they add to the hourly counts and the dataset's metrics. */
export interface PreparedIngest extends IngestTotals {
  rows: EventRow[];
}

interface Pending {
  prepared: PreparedIngest;
  resolve(prepared: PreparedIngest): void;
  reject(err: Error): void;
}

/**
 * Parsing and checking a large ingest body (JSON.parse of 16 MB, a hash per event) takes longer than the
 * server may stall, so it runs in one worker thread per process, with the totals of the rows (IngestTotals);
 * rows and totals come back in small messages.
 */
export class IngestThread {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** The rows of a body, checked in the thread; `body` is handed over and reads as empty afterwards. */
  prepare(body: Buffer, datasetId: number, precision: InputPrecision, receivedMicros: number): Promise<PreparedIngest> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<PreparedIngest>((resolve, reject) => {
      this.pending.set(id, { prepared: { rows: [], counts: [], lastUpdates: [] }, resolve, reject });
      // A body with a memory of its own (a large one always has) is handed over, not copied: copying 10 MB
      // took up to 100 ms of the loop on a busy machine. A view of a shared pool is copied, so the
      // transfer never detaches memory others use.
      const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
      const sent = owned ? body : new Uint8Array(body);
      worker.postMessage({ type: 'job', id, body: sent, datasetId, precision, receivedMicros } satisfies IngestJob, [sent.buffer as ArrayBuffer]);
    });
  }

  /**
   * A checkpoint of the SQLite file's WAL from the thread's own connection: copying a large commit's
   * pages into the database file (tens of MB) took 100-260 ms when the committing connection did it.
   */
  checkpoint(file: string): Promise<void> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { prepared: { rows: [], counts: [], lastUpdates: [] }, resolve: () => resolve(), reject });
      worker.postMessage({ type: 'checkpoint', id, file } satisfies IngestRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(path.join(__dirname, 'ingest-thread.js'));
    worker.unref();
    worker.on('message', (reply: IngestReply) => {
      const job = this.pending.get(reply.id);
      if (!job) return;
      if ('checkpointed' in reply) {
        this.pending.delete(reply.id);
        job.resolve(job.prepared);
        return;
      }
      if ('rows' in reply) {
        const { prepared } = job;
        for (const row of reply.rows) {
          row[ROW.identity] = Buffer.from(row[ROW.identity] as string, 'hex');
          prepared.rows.push(row as EventRow);
        }
        for (const bucket of reply.counts) prepared.counts.push(bucket);
        for (const update of reply.lastUpdates) prepared.lastUpdates.push(update);
        if (!reply.last) {
          setImmediate(() => worker.postMessage({ type: 'more', id: reply.id } satisfies IngestRequest));
          return;
        }
        this.pending.delete(reply.id);
        job.resolve(job.prepared);
        return;
      }
      this.pending.delete(reply.id);
      job.reject(reply.rule ? new IngestError(reply.error) : new Error(reply.error));
    });
    const failAll = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const job of this.pending.values()) job.reject(err);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the ingest thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

/**
 * A large write to SQLite, committed without the committing connection's own WAL checkpoint (which would
 * copy every page of the write into the database file on the server's thread), then checkpointed from
 * the ingest thread; the usual checkpoint rule is back for the commits after it.
 */
export async function withCheckpointInThread<T>(ds: DataSource, thread: IngestThread, write: () => Promise<T>): Promise<T> {
  const file = String(ds.options.database ?? '');
  if (!file || file === ':memory:') return write();
  const [{ wal_autocheckpoint: pages }] = (await ds.query('PRAGMA wal_autocheckpoint')) as { wal_autocheckpoint: number }[];
  await ds.query('PRAGMA wal_autocheckpoint = 0');
  try {
    return await write();
  } finally {
    try {
      await thread.checkpoint(file);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'the ingest thread could not checkpoint the WAL; the next commit will');
    }
    await ds.query(`PRAGMA wal_autocheckpoint = ${Number(pages)}`);
  }
}
