import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThisThreadsPriority } from './worker/priority';
import { registerSqliteFunctions } from './filter';

/** A count asked of the thread; `deadline` is epoch ms, past which the statement aborts itself. */
export interface CountRequest {
  id: number;
  sql: string;
  params: unknown[];
  deadline: number;
}
export type CountReply = { id: number; row: Record<string, unknown> } | { id: number; timedOut: true } | { id: number; error: string };

const TIMED_OUT = 'sluice: statement time bound reached';

/**
 * SQLite counts for estimates, off the server's event loop: better-sqlite3 runs a statement synchronously
 * on the thread that calls it, so a long count here leaves the server answering. `sluice_deadline()` sits
 * in the counted WHERE and is called per row: past the deadline it throws, which ends the statement in
 * SQLite itself (and gives the thread back to JavaScript, so terminate() from the owner works too).
 */
if (parentPort) {
  // Estimates are background work too: the server's own thread answers first when the cores are busy.
  lowerThisThreadsPriority();
  const db = new Database(workerData.file as string, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 2000');
  registerSqliteFunctions(db);
  let deadline = 0;
  let calls = 0;
  db.function('sluice_deadline', { deterministic: false }, () => {
    // Date.now() every 256 rows keeps the check's cost well under the row's own.
    if ((++calls & 255) === 0 && Date.now() > deadline) throw new Error(TIMED_OUT);
    return 1;
  });
  parentPort.on('message', (req: CountRequest) => {
    deadline = req.deadline;
    calls = 0;
    let reply: CountReply;
    try {
      reply = { id: req.id, row: db.prepare(req.sql).get(...req.params) as Record<string, unknown> };
    } catch (err) {
      const message = (err as Error).message;
      reply = message.includes(TIMED_OUT) ? { id: req.id, timedOut: true } : { id: req.id, error: message };
    }
    parentPort!.postMessage(reply);
  });
}
