import { Router } from 'express';
import { DataSource } from 'typeorm';

/** A database that does not answer within this long counts as unreachable: probes must get an answer. */
const READY_TIMEOUT_MS = 2_000;

let draining = false;

/** From now on /readyz answers 503, so that a load balancer stops sending new requests here (graceful stop). */
export function markDraining(): void {
  draining = true;
}

/** /healthz: the process answers. /readyz: the database answers and its schema is up to date. */
export function healthRoute(ds: DataSource): Router {
  const router = Router();
  // One check at a time: while the database hangs, probes share the pending check instead of each
  // tying up another pooled connection.
  let pending: Promise<void> | null = null;
  const check = () => {
    pending ??= (async () => {
      await ds.query('SELECT 1');
      if (await ds.showMigrations()) throw new Error('migrations pending');
    })().finally(() => {
      pending = null;
    });
    return pending;
  };

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (draining) throw new Error('shutting down');
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the database did not answer within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      });
      await Promise.race([check(), timeout]);
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ error: { status: 503, message: `not ready: ${(err as Error).message.split('\n')[0]}` } });
    } finally {
      clearTimeout(timer);
    }
  });
  return router;
}
