import crypto from 'node:crypto';
import http from 'node:http';
import { Router } from 'express';
import { logger } from '../logger';
import { registry } from '../observability/metrics';

function sendJsonError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify({ error: { status, message } }));
}

/** Compares in constant time, so the token cannot be guessed byte by byte from response times. */
function sameToken(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/**
 * GET /metrics in Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`.
 * A plain node:http handler, so the worker (no Express) serves the very same thing.
 */
export function metricsHandler(token: string): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJsonError(res, 400, `${req.method} is not supported here: use GET`, { Allow: 'GET, HEAD' });
      return;
    }
    if (token) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m || !sameToken(m[1], token)) {
        sendJsonError(res, 401, m ? 'the metrics token is not valid' : 'send "Authorization: Bearer <METRICS_TOKEN>"', { 'WWW-Authenticate': 'Bearer' });
        return;
      }
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      logger.error({ err }, 'metrics could not be collected');
      sendJsonError(res, 500, 'metrics could not be collected');
    }
  };
}

export function metricsRoute(token: string): Router {
  const router = Router();
  const handler = metricsHandler(token);
  router.all('/metrics', (req, res) => void handler(req, res));
  return router;
}

/** `sluice worker` has no HTTP server: with METRICS_PORT set it gets this one, serving /metrics only. */
export async function startMetricsServer(port: number, token: string): Promise<http.Server> {
  const handler = metricsHandler(token);
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/metrics') void handler(req, res);
    else sendJsonError(res, 404, `no route ${req.method} ${pathname}: this worker serves /metrics only`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}
