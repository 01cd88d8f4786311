import { parentPort } from 'node:worker_threads';
import { IngestError, prepareIngest } from './ingest-body';
import type { IngestJob, IngestReply } from './ingest-threads';

/** Rows per reply: each message is small enough to take in without a noticeable pause on the server. */
const ROWS_PER_MESSAGE = 2000;

parentPort!.on('message', (job: IngestJob) => {
  const send = (reply: IngestReply) => parentPort!.postMessage(reply);
  try {
    const rows = prepareIngest(job.body, job.datasetId, job.precision, job.receivedMicros);
    for (let i = 0; i < rows.length; i += ROWS_PER_MESSAGE) send({ id: job.id, rows: rows.slice(i, i + ROWS_PER_MESSAGE) });
    send({ id: job.id, done: true });
  } catch (err) {
    send({ id: job.id, error: (err as Error).message, rule: err instanceof IngestError });
  }
});
