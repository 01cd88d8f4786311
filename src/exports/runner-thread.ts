import { parentPort, workerData } from 'node:worker_threads';
import { RunnerJob, runExport } from './export-runner';

/** Entry point of the worker thread that generates one export; its owner may terminate it at any time. */
runExport(workerData as RunnerJob, (message) => parentPort!.postMessage(message)).catch((err: Error) => {
  parentPort!.postMessage({ type: 'error', message: err.message, code: (err as NodeJS.ErrnoException).code });
});
