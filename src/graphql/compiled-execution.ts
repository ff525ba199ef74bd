import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import {
  createSourceEventStream,
  DocumentNode,
  execute,
  ExecutionArgs,
  ExecutionResult,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  GraphQLSchema,
  OperationDefinitionNode,
  SourceLocation,
  subscribe,
} from 'graphql';
import { CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Logger } from '../observability/logger';

type PromiseOrValue<T> = T | Promise<T>;
type SubscriptionEvents = AsyncIterableIterator<ExecutionResult> & Required<Pick<AsyncIterator<ExecutionResult>, 'return' | 'throw'>>;
type SubscriptionResult = AsyncGenerator<ExecutionResult> | SubscriptionEvents | ExecutionResult;
type ApolloGateway = ApolloServerOptionsWithGateway<BaseContext>['gateway'];

const isPromise = <T>(value: PromiseOrValue<T>): value is Promise<T> => typeof (value as Promise<T>)?.then === 'function';
const isAsyncIterable = (value: AsyncIterable<unknown> | ExecutionResult): value is AsyncIterable<unknown> => Symbol.asyncIterator in value;

/**
 * graphql-js's error for what graphql-jit reports: jit's errors are look-alikes (no `extensions`
 * object when the cause has none, no `nodes`, no `toJSON`) that Apollo's error formatting and our
 * masking do not take for GraphQL errors. As graphql-js's `locatedError`: an error that already
 * has its path is kept as it is; a resolver's error is wrapped with the field's path and location;
 * a bare message (a non-null field answered null) gets an Error as its cause, as in graphql-js.
 */
function asGraphQLJsError(error: GraphQLError): GraphQLError {
  const cause = error.originalError;
  if (cause instanceof GraphQLError && cause.path) return cause;
  const located = new GraphQLError(error.message, {
    path: error.path,
    originalError: cause ?? (error.path ? new Error(error.message) : undefined),
    extensions: error.extensions,
  });
  if (error.locations) (located as { locations?: readonly SourceLocation[] }).locations = error.locations;
  return located;
}

function asGraphQLJsResult(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  return { ...result, errors: result.errors.map(asGraphQLJsError) };
}

/**
 * The events of a subscription, each answered; `return()` reaches the source at once, even while
 * it waits for its next event (an async generator would only see it after that event).
 */
function mapEvents(source: AsyncIterable<unknown>, answer: (event: unknown) => Promise<ExecutionResult>): SubscriptionEvents {
  const events = source[Symbol.asyncIterator]();
  const answered = async (step: IteratorResult<unknown>): Promise<IteratorResult<ExecutionResult>> =>
    step.done ? { value: undefined, done: true } : { value: await answer(step.value), done: false };
  const mappedEvents: SubscriptionEvents = {
    next: () => events.next().then(answered),
    return: () => (events.return ? events.return().then(answered) : Promise.resolve({ value: undefined, done: true })),
    throw: (error: unknown) => (events.throw ? events.throw(error).then(answered) : Promise.reject(error)),
    [Symbol.asyncIterator]: () => mappedEvents,
  };
  return mappedEvents;
}

/** Compiled operations kept per process: a busy API has a few dozen; the oldest goes first past this. */
const MAX_COMPILED = 1_000;

/**
 * The one executor of GraphQL operations, for HTTP (Apollo's `gateway` interface) and WebSocket
 * (graphql-ws's `execute`/`subscribe`): each operation is compiled once by graphql-jit into a
 * function of its own and kept, keyed by the document's text and operation name (Apollo hands the
 * same parsed document to every request with the same text, the websocket parses each subscribe:
 * the text is the key both share). Profiled on the listing, graphql-js spent most of its time
 * building argument and info objects for every field of every request; the compiled function
 * builds them once per operation.
 *
 * What stays graphql-js's, so that answers are the same as before:
 * - variables are coerced by graphql-js first: a variable that does not fit its type is refused
 *   with graphql-js's own error (message, locations, and Apollo's BAD_USER_INPUT for it, which
 *   depends on that error's shape); graphql-jit then coerces the same raw values again, which for
 *   every scalar of the schema gives the same values (Upload's coercion of an Upload is the same
 *   promise twice);
 * - the answer is serialized by the transport (Apollo's JSON.stringify): graphql-jit's own
 *   serializer does not know our DateTime scalar, which serializes to a Date;
 * - a document graphql-jit cannot compile runs on graphql-js (logged once per document).
 */
export class CompiledExecution {
  private readonly compiled = new Map<string, CompiledQuery | null>();
  private readonly byDocument = new WeakMap<DocumentNode, { operationName: string | null | undefined; compiled: CompiledQuery | null }>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly logger: Logger,
  ) {}

  /** graphql-js's `execute`, through the operation's compiled function. */
  execute(args: ExecutionArgs): PromiseOrValue<ExecutionResult> {
    const compiled = this.compiledFor(args.document, args.operationName);
    if (!compiled) return execute(args);
    const refused = this.refusedVariables(args);
    if (refused) return refused;
    const result = compiled.query(args.rootValue, args.contextValue, args.variableValues);
    return isPromise(result) ? result.then(asGraphQLJsResult) : asGraphQLJsResult(result);
  }

  /**
   * graphql-js's `subscribe`: the event stream is graphql-js's (graphql-jit's own hands the
   * operation's variables to the field's `subscribe` as its arguments, wrong for a literal
   * argument or a variable of another name), each event is answered by the compiled function.
   */
  async subscribe(args: ExecutionArgs): Promise<SubscriptionResult> {
    const compiled = this.compiledFor(args.document, args.operationName);
    if (!compiled) return subscribe(args);
    const refused = this.refusedVariables(args);
    if (refused) return refused;
    const events = await createSourceEventStream(args);
    if (!isAsyncIterable(events)) return events;
    return mapEvents(events, async (event) => asGraphQLJsResult(await compiled.query(event, args.contextValue, args.variableValues)));
  }

  /**
   * Apollo Server's executor interface: Apollo still parses, validates (its document cache), runs
   * every plugin hook and formats errors; only execution is ours.
   */
  apolloGateway(): ApolloGateway {
    const schema = this.schema;
    let announce: ((context: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void) | undefined;
    return {
      onSchemaLoadOrUpdate(callback) {
        announce = callback;
        return () => (announce = undefined);
      },
      load: async () => {
        // A gateway tells Apollo its schema through the listener; ours never changes.
        announce?.({ apiSchema: schema, coreSupergraphSdl: '' });
        return {
          executor: async (request) =>
            this.execute({
              schema,
              document: request.document,
              contextValue: request.context,
              variableValues: request.request.variables,
              operationName: request.operationName ?? request.request.operationName,
            }),
        };
      },
      async stop() {},
    };
  }

  /** Whether the operation runs compiled (it has run once, and graphql-jit could compile it). */
  isCompiled(document: DocumentNode, operationName?: string): boolean {
    const text = document.loc?.source.body;
    return text !== undefined && !!this.compiled.get(`${operationName ?? ''}\n${text}`);
  }

  /** graphql-js's answer to variables that don't fit their types, or null when they do. */
  private refusedVariables(args: ExecutionArgs): ExecutionResult | null {
    const operation = getOperationAST(args.document, args.operationName) as OperationDefinitionNode;
    if (!operation.variableDefinitions?.length) return null;
    const coerced = getVariableValues(this.schema, operation.variableDefinitions, args.variableValues ?? {}, { maxErrors: 50 });
    return coerced.errors ? { errors: coerced.errors } : null;
  }

  private compiledFor(document: DocumentNode, operationName: string | null | undefined): CompiledQuery | null {
    // Apollo hands the same document object to every request with the same text: found by
    // identity first, without building and hashing the text key.
    const seen = this.byDocument.get(document);
    if (seen && seen.operationName === operationName) return seen.compiled;
    const text = document.loc?.source.body;
    // A document built in code rather than parsed has no text to key it by: graphql-js runs it.
    if (text === undefined) return null;
    const key = `${operationName ?? ''}\n${text}`;
    let compiled = this.compiled.get(key);
    if (compiled === undefined) {
      compiled = this.compile(document, operationName ?? undefined);
      if (this.compiled.size >= MAX_COMPILED) this.compiled.delete(this.compiled.keys().next().value!);
      this.compiled.set(key, compiled);
    }
    this.byDocument.set(document, { operationName, compiled });
    return compiled;
  }

  private compile(document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
    try {
      const compiled = compileQuery(this.schema, document, operationName);
      if (isCompiledQuery(compiled)) return compiled;
      this.logger.warn(
        { operationName, errors: compiled.errors?.map((e) => e.message) },
        'graphql-jit could not compile an operation; graphql-js runs it',
      );
    } catch (error) {
      this.logger.warn({ operationName, err: error }, 'graphql-jit could not compile an operation; graphql-js runs it');
    }
    return null;
  }
}
