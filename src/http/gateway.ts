import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import express, { ErrorRequestHandler, Express, Request } from 'express';
import { authenticateHeaders } from '../auth/authenticate-request';
import type { Services } from '../app/services';
import { authPlugin } from '../graphql/auth-plugin';
import type { GatewayContext } from '../graphql/context';
import { answerDatabaseOutage } from '../graphql/database-unavailable';
import { createFormatError } from '../graphql/format-error';
import { gatewaySchema } from '../graphql/schema';
import type { Logger } from '../observability/logger';
import { playgroundRouter } from '../playground/playground';
import { healthRouter, ReadinessCheck } from './health';

export interface Gateway {
  app: Express;
  server: http.Server;
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  close(): Promise<void>;
}

export interface GatewayOptions {
  services: Services;
  logger: Logger;
  port?: number;
  host?: string;
  readinessChecks?: ReadinessCheck[];
}

/** JSON bodies larger than this are refused before parsing (payloads are capped at 1 MB). */
const JSON_BODY_LIMIT = '2mb';

const CSRF_PREFLIGHT_HEADERS = ['api-key', 'apollo-require-preflight', 'x-apollo-operation-name'];

export function baseUrlOf(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

/** Body-parser failures answered in the GraphQL error shape instead of Express's HTML page. */
const bodyErrors: ErrorRequestHandler = (error, _req, res, next) => {
  const status = typeof error?.status === 'number' ? error.status : 500;
  if (res.headersSent || status >= 500) return next(error);
  const message =
    error.type === 'entity.too.large'
      ? `Request body too large (limit ${JSON_BODY_LIMIT})`
      : error.type === 'entity.parse.failed'
        ? 'Malformed JSON body'
        : error.expose ? String(error.message) : 'Bad request';
  res.status(status).json({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
};

export async function startGateway({ services, logger, port, host, readinessChecks = [] }: GatewayOptions): Promise<Gateway> {
  const { config, db } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  const server = http.createServer(app);

  const apollo = new ApolloServer<GatewayContext>({
    schema: await gatewaySchema(),
    csrfPrevention: { requestHeaders: CSRF_PREFLIGHT_HEADERS },
    allowBatchedHttpRequests: false,
    introspection: true,
    includeStacktraceInErrorResponses: config.nodeEnv !== 'production',
    formatError: createFormatError(config.nodeEnv === 'production', logger),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      // No field sets cache hints; the plugin only costs time on every request.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      authPlugin(),
    ],
  });
  await apollo.start();

  app.use(
    healthRouter([
      { name: 'database', check: async () => void (await db.query('SELECT 1')) },
      ...readinessChecks,
    ]),
  );

  app.use(playgroundRouter({ endpoint: '/graphql' }));
  app.use(
    '/graphql',
    express.json({ limit: JSON_BODY_LIMIT }),
    bodyErrors,
    expressMiddleware(apollo, {
      context: answerDatabaseOutage(async ({ req }): Promise<GatewayContext> => ({
        requestId: (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
        principal: await authenticateHeaders(req.headers, services.auth),
        services,
        baseUrl: baseUrlOf(req),
        loaders: new Map(),
      })),
    }),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? config.port, host ?? config.host, () => resolve());
  });
  const address = server.address() as import('node:net').AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    app,
    server,
    url: `http://${shownHost}:${address.port}`,
    close() {
      // ApolloServer.stop() drains in-flight requests through the drain plugin, then closes.
      closing ??= apollo.stop();
      return closing;
    },
  };
}
