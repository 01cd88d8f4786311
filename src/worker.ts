import { AddressInfo } from 'node:net';
import { loadConfigOrExit } from './config';
import { openDatabase } from './db/data-source';
import { Delivery } from './exports/delivery/delivery';
import { DownloadLinkService } from './exports/download-link.service';
import { ExportEvents } from './exports/export-events';
import { ExportWorker } from './exports/worker/lease-loop';
import { ExportChanges } from './exports/changes';
import { ScheduleTicker } from './exports/schedules/ticker';
import { logger } from './logger';
import { readQueueFrom } from './observability/metrics';
import { startMetricsServer } from './rest/metrics.route';

/** A stop normally takes well under a second; past this, the process exits regardless. */
const STOP_DEADLINE_MS = 8_000;

/** `sluice worker`: an export worker process with no HTTP; any number may share one MySQL database. */
export async function runWorker(): Promise<void> {
  const config = loadConfigOrExit();
  const ds = await openDatabase(config.databaseUrl);
  const events = new ExportEvents();
  const changes = new ExportChanges(ds, events, config.redisUrl);
  changes.start({ receive: false });
  const delivery = new Delivery(ds, config, new DownloadLinkService(ds, config.downloadLinkTtlMs));
  const worker = new ExportWorker(ds, config, events, delivery);
  readQueueFrom(ds);
  const metricsServer = config.metricsPort === null ? null : await startMetricsServer(config.metricsPort, config.metricsToken);
  if (metricsServer) logger.info({ port: (metricsServer.address() as AddressInfo).port }, 'worker metrics listening');
  worker.start();
  // Workers send the outbox too: an export's webhooks and e-mail leave from the process that ended it.
  events.onChanged(() => delivery.outbox.wake());
  delivery.outbox.start();
  const ticker = ScheduleTicker.forStore(ds, config, events, delivery);
  ticker.start();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, running: worker.activeCount }, 'worker stopping: handing running exports back to the queue');
    // A database that does not answer must not keep the process from stopping: the leases cover what is left.
    setTimeout(() => {
      logger.error(`worker did not stop within ${STOP_DEADLINE_MS / 1000} s; exiting anyway (its exports are taken over when their leases run out)`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    metricsServer?.close();
    await Promise.all([worker.stop(), delivery.outbox.stop(), ticker.stop()]);
    await changes.stop();
    await ds.destroy();
    logger.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
