import { AddressInfo } from 'node:net';
import { loadConfigOrExit } from './config';
import { ensureDemo } from './demo';
import { ExportWorker } from './exports/export-worker';
import { ExportChangeBridge } from './graphql/pubsub';
import { logger } from './logger';
import { startServer } from './server';
import { createServices } from './services';

/** `npm start` / `sluice serve`: the HTTP server, with an in-process export worker unless EXPORT_WORKERS=0. */
export async function serve(): Promise<void> {
  const config = loadConfigOrExit();
  const services = await createServices(config);
  const worker = config.exportWorkers > 0 ? new ExportWorker(services.ds, config, services.exportEvents) : null;
  const bridge = new ExportChangeBridge(services.ds, services.exportEvents, config.redisUrl);
  await bridge.startPublishing();
  await bridge.startReceiving();
  const server = await startServer(services);
  const port = (server.httpServer.address() as AddressInfo).port;
  logger.info({ port, database: config.databaseUrl.replace(/\/\/[^@]*@/, '//***@'), worker: Boolean(worker) }, 'sluice listening');
  if (config.demo) await ensureDemo(services, port);
  worker?.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight requests');
    await worker?.stop();
    await server.close();
    await bridge.stop();
    await services.ds.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  serve().catch((err) => {
    process.stderr.write(`sluice: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
