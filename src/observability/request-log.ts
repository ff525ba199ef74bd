import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { Request, RequestHandler, Response } from 'express';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from './logger';
import { metrics, operationLabel } from './metrics';

/** What one request's log line says; filled in as the request goes through the gateway. */
export interface RequestLog {
  requestId: string;
  startedAt: number;
  organizationId?: string;
  keyId?: string;
  operationName?: string | null;
  errorCode?: string;
}

/** Client-sent ids are kept only when they can't forge or bloat a log line. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

function routeOf(path: string): string {
  if (path === '/graphql') return 'graphql';
  if (path.startsWith('/files/')) return 'files';
  if (path === '/healthz' || path === '/readyz' || path === '/metrics') return path.slice(1);
  return 'other';
}

const QUIET_ROUTES = new Set(['healthz', 'readyz', 'metrics']);

/** The request's log record (created by `requestLogging`). */
export function requestLogOf(res: Response): RequestLog {
  let log = res.locals.requestLog as RequestLog | undefined;
  if (!log) {
    log = { requestId: randomUUID(), startedAt: performance.now() };
    res.locals.requestLog = log;
  }
  return log;
}

/** Records who is calling, for the log line (ids only; the key itself never reaches the log). */
export function recordPrincipal(res: Response, principal: { organizationId: string; keyId: string } | null): void {
  if (!principal) return;
  const log = requestLogOf(res);
  log.organizationId = principal.organizationId;
  log.keyId = principal.keyId;
}

/**
 * Records the error code of a failure that happens before Apollo runs the operation (building
 * the context: a bad key, a spent rate limit), which no Apollo request hook sees.
 */
export function recordError(res: Response, code: string): void {
  requestLogOf(res).errorCode = code;
  metrics.graphqlErrors.inc({ code });
}

/**
 * One JSON line per request when its response ends: request id (the client's `x-request-id` if
 * sane, else a new one, returned in `x-request-id`), organization and key ids, operation name,
 * duration, status and error code. Also counts the request and its latency for `/metrics`.
 * Probes (`/healthz`, `/readyz`, `/metrics`) log at debug level. Query strings are never logged
 * (signed download URLs carry their signature there).
 */
export function requestLogging(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
    const log: RequestLog = { requestId, startedAt: performance.now() };
    res.locals.requestLog = log;
    res.setHeader('x-request-id', requestId);
    // Read now: routers mounted on a path rewrite req.path while they handle the request.
    const path = req.path;
    res.once('close', () => finish(logger, req, res, log, path));
    next();
  };
}

function finish(logger: Logger, req: Request, res: Response, log: RequestLog, path: string): void {
  const seconds = (performance.now() - log.startedAt) / 1000;
  const route = routeOf(path);
  const operationName =
    log.operationName ?? (route === 'graphql' && typeof req.body?.operationName === 'string' ? req.body.operationName : null);
  const operation = route === 'graphql' ? operationLabel(operationName) : '';
  const status = res.writableFinished ? res.statusCode : 499;
  metrics.httpRequests.inc({ route, operation, status: String(status) });
  metrics.httpDuration.observe({ route, operation }, seconds);
  const level = status >= 500 ? 'error' : QUIET_ROUTES.has(route) ? 'debug' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  logger[level](
    {
      requestId: log.requestId,
      method: req.method,
      path,
      status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      organizationId: log.organizationId,
      keyId: log.keyId,
      operationName: operationName ?? undefined,
      errorCode: log.errorCode,
      ...(res.writableFinished ? {} : { aborted: true }),
    },
    'request',
  );
}

// A symbol key, because Apollo hands plugins a shallow copy of the context (own symbol
// properties are copied; a WeakMap entry for the original object would not be found).
const REQUEST_LOG = Symbol('requestLog');

/** Links a GraphQL context to its request's log record, for `requestLogPlugin`. */
export function withRequestLog<T extends object>(context: T, res: Response): T {
  (context as Record<symbol, unknown>)[REQUEST_LOG] = requestLogOf(res);
  return context;
}

/** Names the first error's code in the request's log line and counts every error by code. */
export function recordGraphQLErrors(log: RequestLog, errors: readonly GraphQLFormattedError[] | undefined): void {
  if (!errors?.length) return;
  for (const error of errors) {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'UNKNOWN';
    log.errorCode ??= code;
    metrics.graphqlErrors.inc({ code });
  }
}

/** Fills the operation name and error code of GraphQL requests in, and counts errors by code. */
export function requestLogPlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart({ contextValue }) {
      const log = (contextValue as Record<symbol, RequestLog | undefined>)[REQUEST_LOG];
      if (!log) return;
      return {
        async didResolveOperation({ operationName }) {
          log.operationName = operationName;
        },
        async willSendResponse({ response, request, operationName }) {
          log.operationName ??= operationName ?? request.operationName ?? null;
          const body = response.body;
          recordGraphQLErrors(log, body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors);
        },
      };
    },
  };
}
