import { loadConfigOrExit } from './config';
import { openDatabase } from './db/data-source';
import { ExportEvents } from './exports/export-events';
import { ExportWorker } from './exports/export-worker';
import { ExportChangeBridge } from './graphql/pubsub';
import { logger } from './logger';

/** `sluice worker`: an export worker process with no HTTP; any number may share one MySQL database. */
export async function runWorker(): Promise<void> {
  const config = loadConfigOrExit();
  const ds = await openDatabase(config.databaseUrl);
  const events = new ExportEvents();
  const bridge = new ExportChangeBridge(ds, events, config.redisUrl);
  await bridge.startPublishing();
  const worker = new ExportWorker(ds, config, events);
  worker.start();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker stopping: handing running exports back to the queue');
    await worker.stop();
    await bridge.stop();
    await ds.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
