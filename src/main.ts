import { AddressInfo } from 'node:net';
import { loadConfigOrExit } from './config';
import { DatabaseStartError } from './db/data-source';
import { ensureDemo } from './demo';
import { ExportChanges } from './exports/changes';
import { ExportWorker } from './exports/worker/lease-loop';
import { logger } from './logger';
import { markDraining } from './rest/health.route';
import { startServer } from './server';
import { createServices } from './services';

/**
 * How long a stopping server waits for in-flight requests (slow downloads) before closing; Apollo's own
 * drain then gives them up to 10 s more, which keeps the whole stop within a typical 30 s kill grace.
 */
const DRAIN_GRACE_MS = 15_000;

/** `npm start` / `sluice serve`: the HTTP server, with an in-process export worker unless EXPORT_WORKERS=0. */
export async function serve(): Promise<void> {
  const config = loadConfigOrExit();
  const services = await createServices(config);
  const worker = config.exportWorkers > 0 ? new ExportWorker(services.ds, config, services.exportEvents) : null;
  const changes = new ExportChanges(services.ds, services.exportEvents, config.redisUrl);
  changes.start({ receive: true });
  const server = await startServer(services);
  const port = (server.httpServer.address() as AddressInfo).port;
  logger.info({ port, database: config.databaseUrl.replace(/\/\/[^@]*@/, '//***@'), worker: Boolean(worker) }, 'sluice listening');
  if (config.demo) await ensureDemo(services, port);
  worker?.start();

  // In-flight HTTP requests (downloads above all): a graceful stop waits for them.
  let inFlight = 0;
  let drained: () => void = () => undefined;
  server.httpServer.on('request', (_req, res) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) drained();
    });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight }, 'stopping: no new connections; finishing in-flight requests');
    // Stop accepting first, and say not ready, so a load balancer moves new requests elsewhere.
    markDraining();
    server.httpServer.close();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_GRACE_MS).unref());
    const requestsDone = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
    await Promise.all([worker?.stop(), Promise.race([requestsDone, grace])]);
    if (inFlight > 0) logger.warn({ inFlight }, `requests still running after ${DRAIN_GRACE_MS / 1000} s; closing them`);
    await server.close();
    await changes.stop();
    await services.ds.destroy();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  serve().catch((err) => {
    if (err instanceof DatabaseStartError) process.stderr.write(`sluice: ${err.message}\n`);
    else process.stderr.write(`sluice: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
