import express, { Request, Response, Router } from 'express';
import { InputPrecision } from '../catalog/events';
import { PRECISIONS } from '../events/event-schema';
import { Permission } from '../entities/dataset-member.entity';
import { ErrorCode, SluiceError } from '../errors';
import { Services } from '../graphql/context';
import { metrics } from '../observability/metrics';
import { requireUser } from './auth';
import { sendError } from './http-error';

/** POST a JSON array of events: all stored, or none with the first bad event's index and reason. */
export function ingestRoute(services: Services): Router {
  const router = Router();
  // The raw bytes: ingest checks they are UTF-8 (a decoder would quietly replace bad bytes) and parses
  // large bodies off the server's thread.
  const raw = express.raw({ limit: services.config.ingestMaxBytes, type: () => true });
  router.post(
    '/api/v3/data/ingest/:datasetId',
    // Authenticate before reading a possibly large body.
    async (req, res, next) => {
      try {
        res.locals.user = await requireUser(req, services.users);
        next();
      } catch (err) {
        sendError(res, err);
      }
    },
    raw,
    async (req: Request, res: Response) => {
      try {
        const precision = String(req.query.timestampPrecision ?? 'MILLISECONDS').toUpperCase() as InputPrecision;
        if (!PRECISIONS.includes(precision)) throw new SluiceError(ErrorCode.BAD_REQUEST, `timestampPrecision must be one of ${PRECISIONS.join(', ')}`);
        const dataset = await services.datasets.requireAccess(String(req.params.datasetId), res.locals.user.id, Permission.WRITE);
        metrics.ingestEvents.inc(await services.events.ingest(dataset.id, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), precision));
        res.status(204).end();
      } catch (err) {
        sendError(res, err);
      }
    },
  );
  return router;
}

/** Body-parser failures on ingest as the API's own errors: 413 over the limit, 400 for bad JSON. */
export function bodyErrorHandler(maxBytes: number) {
  return (err: { type?: string; status?: number }, _req: Request, res: Response, next: (e?: unknown) => void) => {
    if (err?.type === 'entity.too.large') return sendError(res, new SluiceError(ErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${maxBytes} bytes (INGEST_MAX_BYTES): send the events in smaller batches`));
    if (err?.type === 'entity.parse.failed') return sendError(res, new SluiceError(ErrorCode.BAD_REQUEST, 'the body is not valid JSON: send a JSON array of events'));
    if (err?.status && err.status < 500) return sendError(res, new SluiceError(ErrorCode.BAD_REQUEST, 'the request body could not be read'));
    next(err);
  };
}
