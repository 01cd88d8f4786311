import crypto from 'node:crypto';
import http from 'node:http';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ExecutionArgs, getOperationAST, GraphQLError, OperationTypeNode } from 'graphql';
import { pinoHttp } from 'pino-http';
import { logger } from '../logger';
import { metrics } from './metrics';

/** A caller's id is kept for at most this many characters, and only printable ASCII without spaces. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const userOf = new WeakMap<http.IncomingMessage, string>();

/** The caller's x-request-id if it is a sane one, else a new one; either way sent back and passed on. */
export function requestIdOf(req: http.IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
  // Later readers (Apollo's plugins see only the headers) find the same id.
  req.headers['x-request-id'] = id;
  return id;
}

/** The user a request acts for, for its log line; set where the request is authenticated. */
export function noteUser(req: http.IncomingMessage, userId: string): void {
  userOf.set(req, userId);
}

/** A URL fit for a log: download-link tokens (and any other credential in the query) replaced. */
export function loggableUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|key)=)[^&#]*/gi, '$1[redacted]');
}

/** One JSON line per HTTP request: id, user, method, path (credentials removed), status, duration. */
export function requestLogging() {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req);
      res.setHeader('X-Request-Id', id);
      return id;
    },
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId', responseTime: 'durationMs' },
    wrapSerializers: false,
    // Headers are never logged: Authorization carries the token.
    serializers: {
      req: (req: http.IncomingMessage & { originalUrl?: string }) => ({ method: req.method, url: loggableUrl(req.originalUrl ?? req.url ?? '') }),
      res: (res: http.ServerResponse) => ({ statusCode: res.statusCode }),
    },
    // Not customProps: with our pino 9 logger, pino-http 11 (built for pino 10) fails on it.
    customSuccessObject: (req, _res, val: object) => ({ ...val, userId: userOf.get(req) }),
    customErrorObject: (req, _res, _err, val: object) => ({ ...val, userId: userOf.get(req) }),
    customSuccessMessage: (req, res) => `${req.method} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${res.statusCode}`,
  });
}

interface Operation {
  requestId?: string;
  userId?: string;
  operation: string | null;
  type: OperationTypeNode | 'unknown';
  started: bigint;
}

/** Metrics and the log line of one finished GraphQL operation, for HTTP and WebSocket alike. */
function finish(op: Operation, errors: readonly { extensions?: Record<string, unknown> }[] | undefined, transport: 'http' | 'ws', httpStatus?: number): void {
  const seconds = Number(process.hrtime.bigint() - op.started) / 1e9;
  const outcome = errors?.length ? 'error' : 'success';
  metrics.graphqlOperations.inc({ type: op.type, outcome });
  if (op.type !== 'subscription') metrics.graphqlDuration.observe(seconds);
  const code = errors?.length ? String(errors[0].extensions?.code ?? 'ERROR') : 'OK';
  logger.info(
    { requestId: op.requestId, userId: op.userId, operation: op.operation, type: op.type, transport, status: httpStatus ?? code, code, durationMs: Math.round(seconds * 1e4) / 10 },
    `graphql ${op.type} ${op.operation ?? '(anonymous)'} ${code}`,
  );
}

/** The Apollo side: one metric sample and one log line per operation over HTTP. */
export function graphqlObserver<C extends BaseContext & { user?: { id: string } }>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart({ request, contextValue }) {
      const op: Operation = { requestId: request.http?.headers.get('x-request-id'), userId: contextValue.user?.id, operation: request.operationName ?? null, type: 'unknown', started: process.hrtime.bigint() };
      return {
        async didResolveOperation({ operation }) {
          op.type = operation?.operation ?? 'unknown';
          op.operation = operation?.name?.value ?? op.operation;
        },
        async willSendResponse({ response, errors }) {
          const sent = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          finish(op, errors ?? sent, 'http', response.http.status ?? 200);
        },
      };
    },
  };
}

interface WsExtra {
  request: http.IncomingMessage;
  user?: { id: string };
}

/** graphql-ws hooks: each operation on a socket is measured and logged when it ends. */
export function wsOperationHooks() {
  const running = new Map<string, Operation>();
  const key = (ctx: { extra: WsExtra }, id: string) => `${requestIdOf(ctx.extra.request)}/${id}`;
  const start = (ctx: { extra: WsExtra }, args?: ExecutionArgs): Operation => {
    const ast = args ? getOperationAST(args.document, args.operationName) : null;
    return { requestId: requestIdOf(ctx.extra.request), userId: ctx.extra.user?.id, operation: ast?.name?.value ?? null, type: ast?.operation ?? 'unknown', started: process.hrtime.bigint() };
  };
  return {
    onOperation: (ctx: { extra: WsExtra }, id: string, _payload: unknown, args: ExecutionArgs) => {
      running.set(key(ctx, id), start(ctx, args));
    },
    onError: (ctx: { extra: WsExtra }, id: string, _payload: unknown, errors: readonly GraphQLError[]) => {
      const k = key(ctx, id);
      finish(running.get(k) ?? start(ctx), errors, 'ws');
      running.delete(k);
    },
    onComplete: (ctx: { extra: WsExtra }, id: string) => {
      const k = key(ctx, id);
      const op = running.get(k);
      if (op) finish(op, undefined, 'ws');
      running.delete(k);
    },
  };
}
