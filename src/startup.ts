import { DataSource } from 'typeorm';
import { ExportEvents } from './exports/export-events';
import { ExportChangeBridge } from './graphql/pubsub';
import { logger } from './logger';

/**
 * The cross-process change bridge. Redis only speeds changes up: when REDIS_URL cannot be reached at
 * start, one warning names it and changes go through the database instead.
 */
export async function startChangeBridge(ds: DataSource, events: ExportEvents, redisUrl: string, receive: boolean): Promise<ExportChangeBridge> {
  const bridge = new ExportChangeBridge(ds, events, redisUrl);
  try {
    await bridge.startPublishing();
    if (receive) await bridge.startReceiving();
    return bridge;
  } catch (err) {
    await bridge.stop().catch(() => undefined);
    logger.warn(`REDIS_URL=${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}: Redis cannot be reached (${(err as Error).message}); subscription changes go through the database instead`);
    const fallback = new ExportChangeBridge(ds, events, '');
    if (receive) await fallback.startReceiving();
    return fallback;
  }
}
