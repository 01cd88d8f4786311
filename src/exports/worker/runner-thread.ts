import { parentPort, workerData } from 'node:worker_threads';
import { RunnerJob, runExport } from '../export-runner';

/** The runner's last word when it cannot go on; `code` (ENOSPC, PROTOCOL_CONNECTION_LOST…) decides retry or failure. */
export interface RunnerFault {
  type: 'error';
  message: string;
  code?: string;
}

function report(err: unknown): void {
  const e = err as NodeJS.ErrnoException | undefined;
  const fault: RunnerFault = { type: 'error', message: e?.message ?? String(err), code: typeof e?.code === 'string' ? e.code : undefined };
  parentPort!.postMessage(fault);
}

/** Entry point of the worker thread that generates one export; its owner may terminate it at any time. */
if (parentPort) {
  // A fatal error on an idle database connection (killed between two queries) arrives as an 'error' event
  // with no listener: report it with its code, and let the owner end the thread.
  process.on('uncaughtException', report);
  runExport(workerData as RunnerJob, (message) => parentPort!.postMessage(message)).catch(report);
}
