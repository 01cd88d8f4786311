import { Response } from 'express';
import { ErrorCode, HTTP_STATUS, SluiceError } from '../errors';
import { logger } from '../logger';

/** Every REST error body is {"error":{"status","message"}}; unexpected faults never show their details. */
export function sendError(res: Response, err: unknown): void {
  const known = err instanceof SluiceError;
  const status = known ? HTTP_STATUS[(err as SluiceError).code] : 500;
  const message = known ? (err as SluiceError).message : 'internal server error';
  if (!known) logger.error({ err }, 'unexpected error in a REST route');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if ((err as SluiceError).code === ErrorCode.UNAUTHENTICATED) res.setHeader('WWW-Authenticate', 'Bearer');
  res.status(status).json({ error: { status, message } });
}
