import { Router } from 'express';
import { DataSource } from 'typeorm';

/** /healthz: the process answers. /readyz: the database answers and its schema is up to date. */
export function healthRoute(ds: DataSource): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await ds.query('SELECT 1');
      if (await ds.showMigrations()) throw new Error('migrations pending');
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ error: { status: 503, message: `not ready: ${(err as Error).message.split('\n')[0]}` } });
    }
  });
  return router;
}
