import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EventRow, ROW } from '../events/event-schema';
import { IngestError } from './ingest-body';
import type { InputPrecision } from './events';

export interface IngestJob {
  id: number;
  body: Uint8Array;
  datasetId: number;
  precision: InputPrecision;
  receivedMicros: number;
}

export type IngestReply = { id: number; rows: EventRow[] } | { id: number; done: true } | { id: number; error: string; rule: boolean };

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
      worker.postMessage({ id, body: copy, datasetId, precision, receivedMicros } satisfies IngestJob, [copy.buffer]);
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
        // Structured cloning hands Buffers over as plain Uint8Arrays; the drivers bind Buffers.
        for (const row of reply.rows) {
          const id = row[ROW.identity] as Uint8Array;
          row[ROW.identity] = Buffer.from(id.buffer, id.byteOffset, id.length);
          job.rows.push(row);
        }
        return;
      }
      this.pending.delete(reply.id);
      if ('done' in reply) job.resolve(job.rows);
      else job.reject(reply.rule ? new IngestError(reply.error) : new Error(reply.error));
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
