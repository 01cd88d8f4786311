import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EventRow, ROW } from '../events/event-schema';
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
export type IngestRequest = IngestJob | { type: 'more'; id: number };
/** An EventRow with its identity in hex. */
export type WireRow = [...unknown[]];
export type IngestReply = { id: number; rows: WireRow[]; last: boolean } | { id: number; error: string; rule: boolean };

interface Pending {
  rows: EventRow[];
  resolve(rows: EventRow[]): void;
  reject(err: Error): void;
}

/**
 * Parsing and checking a large ingest body (JSON.parse of 16 MB, a hash per event) takes longer than the
 * server may stall, so it runs in one worker thread per process; the rows come back in small messages.
 */
export class IngestThread {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  prepare(body: Buffer, datasetId: number, precision: InputPrecision, receivedMicros: number): Promise<EventRow[]> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<EventRow[]>((resolve, reject) => {
      this.pending.set(id, { rows: [], resolve, reject });
      // A copy the thread owns: express may reuse nothing here, but the transfer must not detach a pooled buffer.
      const copy = new Uint8Array(body);
      worker.postMessage({ type: 'job', id, body: copy, datasetId, precision, receivedMicros } satisfies IngestJob, [copy.buffer]);
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
      if ('rows' in reply) {
        for (const row of reply.rows) {
          row[ROW.identity] = Buffer.from(row[ROW.identity] as string, 'hex');
          job.rows.push(row as EventRow);
        }
        if (!reply.last) {
          setImmediate(() => worker.postMessage({ type: 'more', id: reply.id } satisfies IngestRequest));
          return;
        }
        this.pending.delete(reply.id);
        job.resolve(job.rows);
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
