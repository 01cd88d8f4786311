import http from 'node:http';
import path from 'node:path';
import { ApolloServer } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { UserEntity } from './entities/user.entity';
import { SluiceError } from './errors';
import { logger } from './logger';
import { readQueueFrom } from './observability/metrics';
import { graphqlObserver, noteUser, requestLogging, wsOperationHooks } from './observability/request-log';
import { bearerToken, Context, Services } from './graphql/context';
import { boundSessionStatements } from './db/statement-bounds';
import { checkSocketOperation, complexityPlugin, depthLimitRule, MAX_GRAPHQL_BYTES, parseOptions } from './graphql/limits';
import { isCapRefusal, SocketSubscriptions, socketCap, socketTurn } from './graphql/socket-limits';
import { graphqlBodyErrors, graphqlDocumentBounds, pathDecodeErrors, securityHeaders } from './rest/security';
import { buildSluiceSchema } from './graphql/schema';
import { downloadRoute } from './rest/download.route';
import { healthRoute } from './rest/health.route';
import { metricsRoute } from './rest/metrics.route';
import { userFromAuthorization } from './rest/auth';
import { bodyErrorHandler, ingestRoute } from './rest/ingest.route';
import { sendError } from './rest/http-error';

export const GRAPHQL_PATHS = ['/graphql', '/api/v3/catalog/graphql'];

/** Expected errors keep their words and code; anything else is masked so no stack or SQL leaks. */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof SluiceError) {
    return { message: original.message, path: formatted.path, locations: formatted.locations, extensions: { code: original.code } };
  }
  if (original instanceof GraphQLError || !(original instanceof Error)) return formatted;
  logger.error({ err: original }, 'unexpected error in a resolver');
  return { message: 'internal server error', path: formatted.path, locations: formatted.locations, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}


export interface RunningServer {
  httpServer: http.Server;
  close(): Promise<void>;
}

/** The HTTP side: GraphQL on both paths, REST routes, health, and the web page. */
export async function startServer(services: Services): Promise<RunningServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  boundSessionStatements(services.ds);
  const httpServer = http.createServer(app);
  const schema = await buildSluiceSchema();
  const apollo = new ApolloServer<Context>({
    schema,
    formatError,
    validationRules: [depthLimitRule],
    parseOptions,
    // Tools (GraphiQL, codegen, graphql-inspector) need the schema; every request still needs a token.
    introspection: true,
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown (worker hand-back first); Apollo's own signal handler would race it and hang.
    stopOnTerminationSignals: false,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), complexityPlugin(schema), graphqlObserver<Context>()],
  });
  await apollo.start();

  app.use(requestLogging());
  readQueueFrom(services.ds);
  app.use(metricsRoute(services.config.metricsToken));
  app.use(healthRoute(services.ds));
  app.use(downloadRoute(services));
  app.use(ingestRoute(services));
  app.use(
    GRAPHQL_PATHS,
    express.json({ limit: MAX_GRAPHQL_BYTES }),
    graphqlDocumentBounds,
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<Context> => {
        try {
          const user = await userFromAuthorization(req.headers.authorization, services.users);
          noteUser(req, user.id);
          return { user, services };
        } catch (err) {
          if (!(err instanceof SluiceError)) throw err;
          throw new GraphQLError(err.message, { extensions: { code: err.code, http: { status: 401 } } });
        }
      },
    }),
  );
  app.use(GRAPHQL_PATHS, graphqlBodyErrors);
  // A larger message closes the socket (1009) before it is parsed.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_GRAPHQL_BYTES });
  httpServer.on('upgrade', (req, socket, head) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!GRAPHQL_PATHS.includes(pathname)) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  const opLog = wsOperationHooks();
  const wsServer = useServer<Record<string, unknown>, { user?: UserEntity; subscriptions?: SocketSubscriptions }>(
    {
      schema,
      // The token travels in connection_init; a bad one closes the socket with 4401 and a reason.
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.Authorization ?? ctx.connectionParams?.authorization;
        const token = typeof raw === 'string' ? (bearerToken(raw) ?? (/^\S+$/.test(raw) ? raw : null)) : null;
        const user = token ? await services.users.authenticate(token) : null;
        if (!user) {
          ctx.extra.socket.close(4401, token ? 'Unauthorized: the token is not valid' : 'Unauthorized: send {"Authorization":"Bearer <token>"} in connection_init');
          return false;
        }
        ctx.extra.user = user;
        const subscriptions = new SocketSubscriptions();
        ctx.extra.subscriptions = subscriptions;
        ctx.extra.socket.once('close', () => subscriptions.closed());
        return true;
      },
      // At most 100 per socket (counted in O(1), refused before parsing), then the HTTP path's limits
      // (tokens, depth, cost) on every operation a socket sends.
      // Each socket's subscribe messages take turns, one per event-loop iteration (socketTurn).
      onSubscribe: async (ctx, id, payload) => {
        await socketTurn(ctx.extra);
        const tooMany = socketCap.onSubscribe(ctx, id);
        if (tooMany) return tooMany;
        const checked = checkSocketOperation(schema, payload);
        if ('errors' in checked) {
          socketCap.onComplete(ctx, id);
          return checked.errors;
        }
        return { schema, document: checked.document, variableValues: payload.variables, operationName: payload.operationName };
      },
      onOperation: opLog.onOperation,
      onComplete: (ctx, id) => {
        socketCap.onComplete(ctx, id);
        opLog.onComplete(ctx as never, id);
      },
      onError: (ctx, id, payload, errors) => {
        socketCap.onError(ctx, id);
        if (!isCapRefusal(errors)) opLog.onError(ctx as never, id, payload, errors);
      },
      context: (ctx): Context => ({ user: ctx.extra.user as UserEntity, services, socket: ctx.extra.subscriptions }),
    },
    wss,
  );

  app.use(express.static(path.join(__dirname, '..', '..', 'src', 'web'), { index: 'index.html' }));
  app.use(pathDecodeErrors);
  app.use(bodyErrorHandler(services.config.ingestMaxBytes));
  app.use((req: express.Request, res: express.Response) => {
    res.status(404).json({ error: { status: 404, message: `no route ${req.method} ${req.path}` } });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => sendError(res, err));

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(services.config.port, resolve);
  });
  return {
    httpServer,
    close: async () => {
      await wsServer.dispose();
      await apollo.stop();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
