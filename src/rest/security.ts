import { NextFunction, Request, Response } from 'express';
import { ErrorCode, SluiceError } from '../errors';
import { GraphQLError } from 'graphql';
import { MAX_GRAPHQL_BYTES, parseBounded } from '../graphql/limits';
import { sendError } from './http-error';

/**
 * The page runs only its own script and style files, talks only to this origin (fetch and the
 * subscription WebSocket: CSP3 'self' covers ws/wss of the same host), and may not be framed.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // Download links carry their token in the query: never hand them on as a referrer.
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}

/** Body problems on /graphql, in GraphQL's own error shape and naming GraphQL's limit (not ingest's). */
export function graphqlBodyErrors(err: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction): void {
  const reply = (status: number, code: string, message: string) => void res.status(status).json({ errors: [{ message, extensions: { code } }] });
  if (err?.type === 'entity.too.large') {
    return reply(413, 'PAYLOAD_TOO_LARGE', `the GraphQL request body is larger than ${MAX_GRAPHQL_BYTES} bytes (${MAX_GRAPHQL_BYTES / 1024} KB), the most /graphql accepts: send smaller documents or variables`);
  }
  if (err?.type === 'entity.parse.failed') return reply(400, 'BAD_REQUEST', 'the GraphQL request body is not valid JSON: send {"query": "…", "variables": {…}}');
  if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') return reply(415, 'BAD_REQUEST', 'the GraphQL request body must be UTF-8 JSON');
  next(err);
}

/** A path whose %-escapes do not decode (e.g. /api/v3/data/exports/%E0%A4%A) is the caller's mistake. */
export function pathDecodeErrors(err: { status?: number; message?: string }, req: Request, res: Response, next: NextFunction): void {
  if (err instanceof URIError || (err?.status === 400 && /^Failed to decode param/.test(String(err.message)))) {
    return sendError(res, new SluiceError(ErrorCode.BAD_REQUEST, `the path ${JSON.stringify(req.originalUrl.split('?')[0])} holds a malformed %-escape: write % as %25, and other escapes as %XX of UTF-8 bytes`));
  }
  next(err);
}

/**
 * Before Apollo: a document over the token bound or too wide is refused here, because Apollo's own
 * validation would first spend quadratic time on it (and a parse over the bound must be a 400).
 */
export function graphqlDocumentBounds(req: Request, res: Response, next: NextFunction): void {
  const query = (req.body as { query?: unknown } | undefined)?.query;
  if (req.method !== 'POST' || typeof query !== 'string') return next();
  const checked = parseBounded(query);
  if (!(checked instanceof GraphQLError)) return next();
  const code = (checked.extensions.code as string | undefined) ?? 'GRAPHQL_PARSE_FAILED';
  res.status(400).json({ errors: [{ message: checked.message, extensions: { code } }] });
}
