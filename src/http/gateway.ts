import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import express, { Express, Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import { authenticateRequests, principalOf } from '../auth/authenticate-request';
import { apolloMiddleware } from './apollo-middleware';
import { startGraphQLWebSocket, subscriptionsOverWebSocketPlugin } from './graphql-ws';
import { jsonBody } from './json-body';
import { graphqlPost } from './graphql-post';
import { GraphQLRoute } from './graphql-route';
import { ValidDocuments } from '../graphql/valid-documents';
import { bodyErrors, unhandledErrors } from './error-handlers';
import { EdgeServices, requestContext } from './edge';
import { apolloErrorOf, httpStatusPlugin } from './error-status';
import { showsErrorDetails } from '../config/config';
import { authPlugin } from '../graphql/auth-plugin';
import { CompiledExecution } from '../graphql/compiled-execution';
import { argumentTextPlugin } from '../graphql/argument-text';
import type { GatewayContext } from '../graphql/context';
import { answerDatabaseOutage } from '../graphql/database-unavailable';
import { createFormatError } from '../graphql/format-error';
import { queryLimits, withQueryLimitCodes } from '../limits/query-limits';
import type { Logger } from '../observability/logger';
import { collectProcessMetrics, metricsHandler } from '../observability/metrics';
import { requestLogging, requestLogOf, requestLogPlugin, withRequestLog } from '../observability/request-log';
import { playgroundRouter } from '../playground/playground';
import { databaseReadiness, healthRouter, ReadinessCheck } from './health';
import { contentRouter, storageReadiness, uploadMiddleware } from './storage-routes';
import { runEventRouter } from './run-event-routes';
import { queueReadiness, registerQueueGauges } from '../queue/queue-health';
import { registerWorkflowGauges } from '../workflows/run-gauges';

export interface Gateway {
  app: Express;
  server: http.Server;
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** The schema the composition root built (src/app/schema.ts). */
  schema: GraphQLSchema;
  services: EdgeServices;
  logger: Logger;
  port?: number;
  host?: string;
  readinessChecks?: ReadinessCheck[];
}

const CSRF_PREFLIGHT_HEADERS = ['api-key', 'apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * `GatewayContext.clientGone` of an HTTP request: aborts when the connection closes before the
 * answer is written (a client that stopped waiting for `waitSeconds`).
 */
function clientGoneOf(res: Response): () => AbortSignal {
  let gone: AbortController | undefined;
  return () => {
    if (!gone) {
      const controller = (gone = new AbortController());
      if (res.destroyed) controller.abort();
      else if (!res.writableEnded) res.once('close', () => res.writableEnded || controller.abort());
    }
    return gone.signal;
  };
}

export async function startGateway({ schema, services, logger, port, host, readinessChecks = [] }: GatewayOptions): Promise<Gateway> {
  const { config, db } = services;
  const showDetails = showsErrorDetails(config);
  const app = express();
  // Express's own error page prints stack traces unless its env is production.
  app.set('env', showDetails ? 'development' : 'production');
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // Requests are dispatched below, once the GraphQL route exists: Apollo's drain plugin needs the server first.
  const server = http.createServer();
  const limits = queryLimits(config.queryLimits);
  collectProcessMetrics();
  registerWorkflowGauges(db);
  registerQueueGauges(db);
  const logging = requestLogging(logger);
  app.use(logging);

  const formatError = withQueryLimitCodes(createFormatError(!showDetails, logger));
  const execution = new CompiledExecution(schema, logger);
  const documents = new ValidDocuments(schema, limits);
  const apollo = new ApolloServer<GatewayContext>({
    // Apollo parses, validates, runs the plugins and answers; operations run compiled (graphql-jit).
    gateway: execution.apolloGateway(),
    csrfPrevention: { requestHeaders: CSRF_PREFLIGHT_HEADERS },
    // The process stops on SIGINT/SIGTERM in its own order (src/app/run.ts); Apollo's handlers,
    // on whenever NODE_ENV is not test, would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    introspection: true,
    includeStacktraceInErrorResponses: showDetails,
    formatError,
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      // No field sets cache hints; the plugin only costs time on every request.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      authPlugin(),
      argumentTextPlugin(),
      subscriptionsOverWebSocketPlugin(),
      httpStatusPlugin(),
      ...limits.plugins,
      requestLogPlugin(),
    ],
  });
  await apollo.start();

  const authentication = authenticateRequests(services.auth, services.rateLimits);
  const unhandled = unhandledErrors(logger, showDetails);
  // Everything under /graphql, in order (src/http/graphql-route.ts); the app serves the other paths.
  const graphqlRoute = new GraphQLRoute(app, [
    logging,
    playgroundRouter({ endpoint: '/graphql', development: showDetails }),
    jsonBody(config.maxJsonBodyBytes),
    bodyErrors(config.maxJsonBodyBytes),
    ...uploadMiddleware(services.storage, CSRF_PREFLIGHT_HEADERS),
    bodyErrors(config.maxJsonBodyBytes),
    authentication,
    // JSON POSTs and parsed uploads (every client's hot path): src/http/graphql-post.ts says which requests.
    graphqlPost({
      schema,
      execution,
      services,
      limits,
      formatError,
      documents,
      stackTraces: showDetails,
      clientGone: clientGoneOf,
    }),
    apolloMiddleware(apollo, {
      // A refused key is thrown here, so that Apollo answers it (401, 429, 503 for an outage).
      context: answerDatabaseOutage(async ({ req, res }): Promise<GatewayContext> => {
        let principal;
        try {
          principal = principalOf(res);
        } catch (refused) {
          throw apolloErrorOf(refused);
        }
        return withRequestLog(
          requestContext(services, { requestId: requestLogOf(res).requestId, principal, request: req, clientGone: clientGoneOf(res) }),
          res,
        );
      }),
    }),
    unhandled,
  ]);
  server.on('request', (req, res) => (graphqlRoute.matches(req) ? graphqlRoute.handle(req, res) : app(req, res)));
  app.use(
    healthRouter(logger, showDetails, [
      databaseReadiness(db),
      storageReadiness(services.storage),
      queueReadiness(services.queue),
      ...readinessChecks,
    ]),
  );

  app.get('/metrics', metricsHandler);
  app.use(contentRouter(services, authentication, logger));
  app.use(runEventRouter(services, authentication, logger));
  app.use(unhandled);
  // Subscriptions: the graphql-ws protocol on the same path and port.
  const websocket = startGraphQLWebSocket({
    server,
    path: '/graphql',
    schema,
    execution,
    services,
    logger,
    limits,
    formatError,
    documents,
    maxPayloadBytes: config.maxJsonBodyBytes,
    masked: !showDetails,
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port ?? config.port, host ?? config.host, () => resolve());
    });
  } catch (error) {
    // e.g. the port is taken: let go of what was started, so that the caller can stop cleanly.
    await websocket.close();
    await apollo.stop();
    throw error;
  }
  const address = server.address() as import('node:net').AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    app,
    server,
    url: `http://${shownHost}:${address.port}`,
    close() {
      // Requests waiting for a run answer it as it stands; subscriptions end (their sockets would
      // otherwise keep the HTTP server from closing); ApolloServer.stop() drains in-flight
      // requests through the drain plugin, then closes.
      services.runWaiter.stop();
      closing ??= Promise.all([websocket.close(), apollo.stop()]).then(() => undefined);
      return closing;
    },
  };
}
