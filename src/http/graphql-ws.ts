import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApolloServerPlugin } from '@apollo/server';
import { DocumentNode, ExecutionArgs, getOperationAST, GraphQLError, GraphQLFormattedError, GraphQLSchema, Kind } from 'graphql';
import type { Context } from 'graphql-ws';
import WebSocket, { WebSocketServer } from 'ws';
import { EdgeServices, requestContext } from './edge';
import { serveGraphQLWs, type SocketExtra as AcceptedSocket } from './graphql-ws-socket';
import { authenticateKey } from '../auth/authenticate-request';
import type { Principal } from '../auth/auth.service';
import { isDatabaseUnavailable } from '../db/unavailable';
import { checkArgumentText } from '../graphql/argument-text';
import { ValidDocuments } from '../graphql/valid-documents';
import type { CompiledExecution } from '../graphql/compiled-execution';
import { AppError, ErrorCode, graphQLErrorOf } from '../graphql/errors';
import type { QueryLimitOptions } from '../limits/query-limits';
import type { Logger } from '../observability/logger';

/** What the socket adapter puts beside each connection, and what we add once its key is checked. */
interface SocketExtra extends AcceptedSocket {
  apiKey?: string;
  principal?: Principal;
  /** Aborts when the socket closes: what a subscription's `clientGone()` returns. */
  gone?: AbortController;
}

type ConnectionParams = Record<string, unknown>;
type WsContext = Context<ConnectionParams, SocketExtra>;

/** Close codes of a refused `connection_init` (README, SECURITY.md). */
export const CLOSE_MISSING_KEY = 4401;
export const CLOSE_BAD_KEY = 4403;
/** RFC 6455 "Try Again Later": the key could not be checked because the database is away. */
const CLOSE_TRY_AGAIN_LATER = 1013;
/** A socket that does not answer our close frame within this is cut off, so that shutdown is not held up. */
const CLOSE_GRACE_MS = 2_000;

type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

export interface GraphQLWebSocketOptions {
  server: http.Server;
  path: string;
  schema: GraphQLSchema;
  /** Runs the operations, as for HTTP. */
  execution: CompiledExecution;
  services: EdgeServices;
  logger: Logger;
  limits: QueryLimitOptions;
  /** The HTTP path's formatter: masking and query-limit codes alike on both transports. */
  formatError: FormatError;
  /** Valid documents by text, shared with HTTP's JSON POST path. */
  documents: ValidDocuments;
  /** Largest message accepted, as for JSON bodies over HTTP. */
  maxPayloadBytes: number;
  masked: boolean;
}

export interface GraphQLWebSocket {
  /** Closes every socket (1001 "Going away"; subscriptions end) and stops accepting new ones. */
  close(): Promise<void>;
}

/**
 * Parses and checks a subscription document as Apollo's pipeline does for HTTP: the token limit
 * while parsing, graphql-js's rules with the depth, alias and directive limits, then cost and the
 * text of the variables. Only subscriptions: queries and mutations go over HTTP, where request
 * logs, rate-limit headers and `waitSeconds`'s disconnect handling live.
 */
function checkedDocument(
  schema: GraphQLSchema,
  limits: QueryLimitOptions,
  valid: ValidDocuments,
  query: string,
  variables: Record<string, unknown>,
  operationName: string | undefined,
): DocumentNode | readonly GraphQLError[] {
  const document = valid.documentOf(query);
  if (Array.isArray(document)) return document;
  const operation = getOperationAST(document, operationName);
  if (!operation) {
    return [
      new GraphQLError('Unable to identify the operation to run: name it with operationName', {
        extensions: { code: 'OPERATION_RESOLUTION_FAILURE' },
      }),
    ];
  }
  if (operation.operation !== 'subscription') {
    return [
      new GraphQLError(`Only subscriptions are served over WebSocket; send a ${operation.operation} as an HTTP POST to this URL`, {
        extensions: { code: 'BAD_REQUEST' },
      }),
    ];
  }
  try {
    limits.checkCost(schema, document, variables, operationName);
    checkArgumentText(document, variables);
  } catch (error) {
    if (error instanceof AppError) return [graphQLErrorOf(error)];
    if (error instanceof GraphQLError) return [error];
    throw error;
  }
  return document;
}

/**
 * GraphQL subscriptions over the graphql-ws protocol on the gateway's own HTTP server and path.
 * The key comes in `connection_init` as `{ "api-key": "…" }` (a browser cannot set headers on a
 * websocket): none closes the socket with 4401, a bad or revoked one with 4403. Each subscribe
 * checks the key again (a key revoked meanwhile closes the socket with 4403) and spends one
 * request of its rate budget. Errors are formatted (and masked) as on HTTP.
 */
export function startGraphQLWebSocket(options: GraphQLWebSocketOptions): GraphQLWebSocket {
  const { services, logger, schema, limits, masked, execution } = options;
  // Upgrades are taken from the server by hand rather than with ws's `server` option, which would
  // also forward the HTTP server's own errors (a port in use) to the websocket server.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
  const valid = options.documents;
  const onUpgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = request.url ?? '';
    const query = url.indexOf('?');
    if ((query < 0 ? url : url.slice(0, query)) !== options.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => sockets.open(ws, request, socket));
  };
  options.server.on('upgrade', onUpgrade);

  const format = (error: GraphQLError): GraphQLFormattedError => {
    // A variable that does not fit its type: Apollo tells it as BAD_USER_INPUT over HTTP.
    const badVariable = !error.path && !error.extensions?.code && error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION;
    const json = error.toJSON();
    const formatted = options.formatError(badVariable ? { ...json, extensions: { code: 'BAD_USER_INPUT' } } : json, error);
    // Over HTTP Apollo turns `extensions.http` into the status; a websocket has no status.
    const { http: _status, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  };

  /** The connection's principal, or null after closing the socket with the reason. */
  const authenticate = async (ctx: WsContext, rawKey: unknown): Promise<Principal | null> => {
    const { socket } = ctx.extra;
    if (typeof rawKey !== 'string' || rawKey.trim() === '') {
      socket.close(CLOSE_MISSING_KEY, 'Missing API key: send { "api-key": "…" } as the connection_init payload');
      return null;
    }
    try {
      return await authenticateKey(rawKey, services.auth);
    } catch (error) {
      // The same refusal as over HTTP, told in the close reason (the messages fit its 123 bytes).
      if (error instanceof AppError) socket.close(CLOSE_BAD_KEY, error.message);
      else if (isDatabaseUnavailable(error)) socket.close(CLOSE_TRY_AGAIN_LATER, 'Service temporarily unavailable: retry shortly');
      else throw error;
      return null;
    }
  };

  const sockets = serveGraphQLWs<ConnectionParams, SocketExtra>(
    {
      schema,
      execute: (args) => execution.execute(args),
      subscribe: (args) => execution.subscribe(args),
      async onConnect(ctx) {
        const apiKey = ctx.connectionParams?.['api-key'];
        const principal = await authenticate(ctx, apiKey);
        if (!principal) return false;
        ctx.extra.apiKey = apiKey as string;
        ctx.extra.principal = principal;
        return true;
      },
      async onSubscribe(ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> {
        // Nothing returned would mean "run it anyway": a refused key answers an error (on a socket already closing).
        const principal = await authenticate(ctx, ctx.extra.apiKey);
        if (!principal) return [graphQLErrorOf(new AppError(ErrorCode.UNAUTHENTICATED, "The connection's API key is no longer valid"))];
        try {
          await services.rateLimits.consume(principal.keyId);
        } catch (error) {
          if (error instanceof AppError) return [graphQLErrorOf(error)];
          throw error;
        }
        const variables = (payload.variables ?? {}) as Record<string, unknown>;
        const operationName = payload.operationName ?? undefined;
        const document = checkedDocument(schema, limits, valid, payload.query, variables, operationName);
        if (Array.isArray(document)) return document;
        const extra = ctx.extra;
        const contextValue = requestContext(services, {
          requestId: randomUUID(),
          principal,
          request: extra.request,
          clientGone() {
            if (!extra.gone) {
              extra.gone = new AbortController();
              if (extra.socket.readyState !== WebSocket.OPEN) extra.gone.abort();
            }
            return extra.gone.signal;
          },
        });
        return { schema, document: document as DocumentNode, variableValues: variables, operationName, contextValue };
      },
      onNext(_ctx, _id, _payload, _args, result) {
        if (!result.errors?.length) return;
        return { ...result, errors: result.errors.map(format) };
      },
      onError(_ctx, _id, _payload, errors) {
        return errors.map(format);
      },
      onClose(ctx, code) {
        ctx.extra.gone?.abort();
        logger.debug({ code, keyId: ctx.extra.principal?.keyId }, 'websocket closed');
      },
    },
    wss,
    logger,
    { isProd: masked },
  );

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        options.server.off('upgrade', onUpgrade);
        const disposed = sockets.dispose();
        const cutOff = setTimeout(() => {
          for (const socket of wss.clients) socket.terminate();
        }, CLOSE_GRACE_MS);
        try {
          await disposed;
        } finally {
          clearTimeout(cutOff);
        }
      })();
      return closing;
    },
  };
}

export const SUBSCRIPTION_OVER_HTTP_MESSAGE =
  'Subscriptions are served over WebSocket (the graphql-ws protocol) at this same URL, not over HTTP';

/**
 * A subscription sent as an HTTP request would run its resolver once, without a run to show:
 * refused before execution, pointing at the websocket.
 */
export function subscriptionsOverWebSocketPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError(SUBSCRIPTION_OVER_HTTP_MESSAGE, {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          });
        },
      };
    },
  };
}
