import { HeaderMap } from '@apollo/server';
import type { Request, RequestHandler, Response } from 'express';
import {
  execute as executeWithGraphQLJs,
  ExecutionResult,
  getOperationAST,
  GraphQLError,
  GraphQLFormattedError,
  GraphQLSchema,
  Kind,
  OperationDefinitionNode,
} from 'graphql';
import { acceptedPrincipal } from '../auth/authenticate-request';
import { checkArgumentText } from '../graphql/argument-text';
import { refuseKeylessOperation } from '../graphql/auth-plugin';
import type { CompiledExecution } from '../graphql/compiled-execution';
import { requestError, type ValidDocuments } from '../graphql/valid-documents';
import type { QueryLimitOptions } from '../limits/query-limits';
import { recordGraphQLErrors, requestLogOf, withRequestLog } from '../observability/request-log';
import { EdgeServices, requestContext } from './edge';
import { statusOfApplicationErrors } from './error-status';
import { SUBSCRIPTION_OVER_HTTP_MESSAGE } from './graphql-ws';

type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/** Apollo Server's answer types for a single result, in its order of preference. */
const APPLICATION_JSON = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json; charset=utf-8';
const JSON_BODY = /^application\/json\s*(?:;|$)/i;
const MULTIPART_BODY = /^multipart\/form-data\s*(?:;|$)/i;

export interface GraphQLPostOptions {
  schema: GraphQLSchema;
  execution: CompiledExecution;
  services: EdgeServices;
  limits: QueryLimitOptions;
  formatError: FormatError;
  /** Valid documents by text, shared with the websocket. */
  documents: ValidDocuments;
  /** Stack traces in error answers (NODE_ENV=development only). */
  stackTraces: boolean;
  /** `GatewayContext.clientGone` of the request. */
  clientGone(res: Response): () => AbortSignal;
}

/** What Apollo accepts as a JSON object field (`isStringRecord`). */
const isRecord = (value: unknown): value is Record<string, unknown> =>
  !!value && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value);

interface Operation {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

/**
 * The operation of a well-formed JSON POST body, or null for anything Apollo answers with a
 * refusal of the body itself (arrays, a missing or non-string query, variables as a string…) or
 * with persisted-query handling (`extensions.persistedQuery`).
 */
function operationOf(body: unknown): Operation | null {
  if (!isRecord(body)) return null;
  const { query, variables, operationName, extensions } = body;
  if (typeof query !== 'string' || query === '') return null;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return null;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (extensions !== undefined && extensions !== null && (!isRecord(extensions) || 'persistedQuery' in extensions)) return null;
  return { query, variables: variables ?? undefined, operationName: operationName ?? undefined };
}

/** The answer's content type as Apollo negotiates it; null when the client accepts neither (Apollo answers 406). */
function answerTypeOf(req: Request): string | null {
  if (!req.headers.accept) return APPLICATION_JSON;
  const preferred = req.accepts([APPLICATION_JSON, GRAPHQL_RESPONSE_JSON]);
  return typeof preferred === 'string' ? preferred : null;
}

/** What is written: formatted errors, data, extensions. */
interface Answer {
  errors?: GraphQLFormattedError[];
  data?: unknown;
  extensions?: unknown;
}

interface HttpHead {
  status?: number;
  headers: HeaderMap;
}

const asGraphQLError = (error: unknown): GraphQLError =>
  error instanceof GraphQLError
    ? error
    : error instanceof Error
      ? new GraphQLError(error.message, { originalError: error })
      : new GraphQLError(`Unexpected error value: ${String(error)}`);

/** graphql-js's refusal of a variable (Apollo answers it as BAD_USER_INPUT). */
function isRefusedVariable(error: GraphQLError): boolean {
  const node = error.nodes?.length === 1 ? error.nodes[0] : undefined;
  if (node?.kind !== Kind.VARIABLE_DEFINITION) return false;
  const variable = `Variable "$${node.variable.name.value}" `;
  return ['has invalid value', 'got invalid value ', 'of required type ', 'of non-null type '].some((rest) =>
    error.message.startsWith(variable + rest),
  );
}

/**
 * GraphQL operations sent as a JSON POST, or as a GraphQL multipart request (uploads): the hot
 * path of every client (Apollo Client, urql, graphql-request, backend services), answered without
 * Apollo Server's per-request pipeline. That pipeline (a request context of a dozen objects, a
 * query hash, every plugin hook awaited in turn, the answer's head merged through header maps)
 * cost about as much CPU as running the listing itself (BENCHMARKS.md, issue 22). This does the same steps in the same order with the
 * same functions: the document cache shared with the websocket, graphql-js's validation with the
 * query limits, the keyless rule, the argument-text, subscription and cost checks, compiled
 * execution, and Apollo's error normalization, formatter, statuses and answer shape; the request
 * log and metrics see it as they see Apollo's requests.
 *
 * Everything else on `/graphql` stays Apollo Server's: GET requests, multipart requests without a
 * CSRF preflight header (unparsed, refused by Apollo), bodies Apollo refuses (arrays, a missing
 * query, variables sent as a string), persisted queries, a key that was refused (its 401/429/503
 * answers), and clients that accept neither JSON type. Those requests take `next()` and never run
 * here; no request is answered by both.
 */
export function graphqlPost(options: GraphQLPostOptions): RequestHandler {
  const { schema, execution, services, limits, formatError, documents, stackTraces } = options;

  /**
   * A GraphQL multipart request (an upload) that the multipart parser has turned into its
   * operation: only that parser sets a multipart request's body, and it parses only requests that
   * pass Apollo's CSRF rule for this "simple" content type (src/http/storage-routes.ts); the others
   * have no body here and are Apollo's to refuse.
   */
  const isParsedMultipart = (req: Request, contentType: string): boolean => MULTIPART_BODY.test(contentType) && isRecord(req.body);

  /** Apollo's `normalizeAndFormatErrors`: code INTERNAL_SERVER_ERROR by default, `extensions.http` taken into the head. */
  const formatErrors = (errors: readonly GraphQLError[], head: HttpHead): GraphQLFormattedError[] =>
    errors.map((error) => {
      const enrich = (raw: unknown): GraphQLFormattedError => {
        const graphqlError = asGraphQLError(raw);
        const extensions: Record<string, unknown> = {
          ...graphqlError.extensions,
          code: graphqlError.extensions.code ?? 'INTERNAL_SERVER_ERROR',
        };
        const http = extensions.http as Partial<HttpHead> | undefined;
        if (http && typeof http === 'object' && (http.status === undefined || typeof http.status === 'number')) {
          if (http.status) head.status = http.status;
          if (http.headers instanceof Map) for (const [name, value] of http.headers) head.headers.set(name, value);
          delete extensions.http;
        }
        if (stackTraces) extensions.stacktrace = graphqlError.stack?.split('\n');
        return { ...graphqlError.toJSON(), extensions };
      };
      try {
        return formatError(enrich(error), error);
      } catch (formattingError) {
        return stackTraces ? enrich(formattingError) : { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
      }
    });

  const send = (res: Response, answerType: string, head: HttpHead, answer: Answer) => {
    const log = requestLogOf(res);
    recordGraphQLErrors(log, answer.errors);
    for (const [name, value] of head.headers) res.setHeader(name, value);
    res.setHeader('content-type', answerType);
    // Apollo's field order and trailing newline.
    const text = `${JSON.stringify({ errors: answer.errors, data: answer.data, extensions: answer.extensions })}\n`;
    res.statusCode = head.status ?? 200;
    res.setHeader('content-length', Buffer.byteLength(text));
    res.end(text);
  };

  /** Apollo's `sendErrorResponse`: statuses from the errors, else 500. */
  const sendErrors = (res: Response, answerType: string, errors: readonly GraphQLError[]) => {
    const head: HttpHead = { status: statusOfApplicationErrors(errors), headers: new HeaderMap() };
    const formatted = formatErrors(errors, head);
    head.status ??= 500;
    send(res, answerType, head, { errors: formatted });
  };

  const answer = async (req: Request, res: Response, request: Operation, answerType: string) => {
    const log = requestLogOf(res);
    const document = documents.documentOf(request.query);
    if (Array.isArray(document)) return sendErrors(res, answerType, document);
    const operation = getOperationAST(document, request.operationName) as OperationDefinitionNode | null;
    log.operationName = operation?.name?.value ?? request.operationName ?? null;
    const principal = acceptedPrincipal(res) ?? null;
    try {
      // Apollo's order of its plugins' didResolveOperation hooks (src/http/gateway.ts).
      if (!principal && operation) refuseKeylessOperation(operation, document);
      checkArgumentText(document, request.variables);
      if (operation?.operation === 'subscription') {
        throw new GraphQLError(SUBSCRIPTION_OVER_HTTP_MESSAGE, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
      }
      limits.checkCost(schema, document, request.variables ?? {}, operation?.name?.value);
    } catch (error) {
      return sendErrors(res, answerType, [asGraphQLError(error)]);
    }
    if (!operation) {
      // No operation of that name (or several, unnamed): graphql-js's own message, before any resolver.
      const refused = (await executeWithGraphQLJs({ schema, document, operationName: request.operationName })) as ExecutionResult;
      return sendErrors(res, answerType, [requestError(refused.errors![0], 'OPERATION_RESOLUTION_FAILURE', 400)]);
    }
    const contextValue = withRequestLog(
      requestContext(services, { requestId: log.requestId, principal, request: req, clientGone: options.clientGone(res) }),
      res,
    );
    let result: ExecutionResult;
    try {
      result = await execution.execute({
        schema,
        document,
        contextValue,
        variableValues: request.variables,
        operationName: request.operationName,
      });
    } catch (error) {
      return sendErrors(res, answerType, [asGraphQLError(error)]);
    }
    if (!result.errors) return send(res, answerType, { headers: new HeaderMap() }, { data: result.data, extensions: result.extensions });
    const errors = result.errors.map((error) =>
      isRefusedVariable(error) && error.extensions?.code == null ? requestError(error, 'BAD_USER_INPUT', undefined) : error,
    );
    const head: HttpHead = { status: statusOfApplicationErrors(errors), headers: new HeaderMap() };
    const fromErrors: HttpHead = { headers: head.headers };
    const formatted = formatErrors(errors, fromErrors);
    // Apollo's status400ForVariableCoercionErrors: errors and no data at all is the request's fault.
    if (result.data === undefined && !fromErrors.status) fromErrors.status = 400;
    if (fromErrors.status) head.status = fromErrors.status;
    send(res, answerType, head, { data: result.data, errors: formatted, extensions: result.extensions });
  };

  return (req, res, next) => {
    const contentType = req.headers['content-type'];
    if (req.method !== 'POST' || contentType === undefined) return next();
    if (!JSON_BODY.test(contentType) && !isParsedMultipart(req, contentType)) return next();
    const request = operationOf(req.body);
    if (!request || acceptedPrincipal(res) === undefined) return next();
    const answerType = answerTypeOf(req);
    if (!answerType) return next();
    answer(req, res, request, answerType).catch(next);
  };
}
