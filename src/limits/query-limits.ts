import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { DocumentNode, GraphQLError, GraphQLFormattedError, GraphQLSchema, ParseOptions, ValidationContext, ValidationRule } from 'graphql';
import { ComplexityEstimator, fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';
import type { QueryLimits } from '../config/config';
import { AppError, appErrorIn, ErrorCode } from '../graphql/errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../graphql/page-args';

/** `validation`: graphql-js's own budget for comparing same-named fields ran out. */
type LimitName = 'depth' | 'cost' | 'aliases' | 'tokens' | 'directives' | 'validation';

/**
 * Armor reports through ValidationContext; Apollo wraps every validation error as
 * GRAPHQL_VALIDATION_FAILED but keeps ours as `originalError`, which `withQueryLimitCodes` reads.
 */
function reportAs(limit: LimitName) {
  return (context: ValidationContext | null, error: GraphQLError) => {
    context?.reportError(
      new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
        extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, limit },
      }),
    );
  };
}

/**
 * A connection costs its selection once per requested node: `first` (or the default page size),
 * capped at the largest page a connection answers so that an out-of-range `first` gets the
 * resolver's BAD_USER_INPUT rather than a cost error.
 */
const connectionEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (!field.args.some((arg) => arg.name === 'first')) return undefined;
  const first = typeof args.first === 'number' && Number.isFinite(args.first) ? args.first : DEFAULT_PAGE_SIZE;
  return 1 + childComplexity * Math.min(Math.max(first, 1), MAX_PAGE_SIZE);
};

const ESTIMATORS = [fieldExtensionsEstimator(), connectionEstimator, simpleEstimator({ defaultComplexity: 1 })];

export interface QueryLimitOptions {
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
  plugins: ApolloServerPlugin<BaseContext>[];
  /** Throws QUERY_TOO_COMPLEX when the operation costs more than the limit (the plugin's check, for transports beside Apollo's). */
  checkCost: CostCheck;
}

type CostCheck = (
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  operationName: string | undefined,
) => void;

/**
 * Depth, alias and directive limits are graphql-armor validation rules (its Apollo plugins are not
 * used: its token plugin throws from a parsing hook, which Apollo 5 answers with a 500). Tokens use
 * graphql-js's own parser limit. Cost needs the request's variables (`first: $n`), which validation
 * does not see, so it runs after the operation is resolved, through graphql-query-complexity.
 *
 * Introspection: armor's depth rule does not count the `__schema` field (the GraphiQL
 * introspection query is 13 levels deep); graphql-js's MaxIntrospectionDepthRule, part of the
 * specified rules Apollo always runs, bounds the nesting of introspection lists instead.
 */
export function queryLimits(limits: QueryLimits): QueryLimitOptions {
  const armor = new ApolloArmor({
    maxDepth: {
      n: limits.maxDepth,
      ignoreIntrospection: true,
      // Fragments are a way of writing a selection, not a level of it.
      flattenFragments: true,
      propagateOnRejection: false,
      onReject: [reportAs('depth')],
    },
    maxAliases: { n: limits.maxAliases, propagateOnRejection: false, onReject: [reportAs('aliases')] },
    maxDirectives: { n: limits.maxDirectives, propagateOnRejection: false, onReject: [reportAs('directives')] },
    costLimit: { enabled: false },
    maxTokens: { enabled: false },
    // Introspection is public, so hiding "Did you mean" suggestions would hide nothing.
    blockFieldSuggestion: { enabled: false },
  });
  const { validationRules } = armor.protect();
  const checkCost = costCheck(limits.maxCost);
  return {
    validationRules: validationRules as ValidationRule[],
    parseOptions: { maxTokens: limits.maxTokens },
    plugins: [costLimitPlugin(checkCost)],
    checkCost,
  };
}

const NODE_LIMIT_MESSAGE = 'Query exceeds the maximum allowed number of nodes.';

/**
 * The cost of the operation `operationName` of `document` with `variables`: `'over'` when it is
 * certainly above `maxCost`, `null` when it cannot be computed because the variables don't fit
 * their types (execution then refuses them with BAD_USER_INPUT before any resolver runs).
 *
 * graphql-query-complexity walks every fragment spread again, so a document of fragments that
 * each spread the previous one twice would take 2^n steps; the walk stops after a number of
 * nodes that only a query far above the limit reaches (every field costs at least 1).
 */
export function queryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  operationName: string | undefined,
  maxCost: number,
): number | 'over' | null {
  try {
    return getComplexity({
      schema,
      query: document,
      variables,
      operationName,
      estimators: ESTIMATORS,
      maxQueryNodes: 2 * maxCost + 10_000,
    });
  } catch (error) {
    if ((error as Error).message === NODE_LIMIT_MESSAGE) return 'over';
    return null;
  }
}

/** Variable sets remembered per document, each up to a size (bigger ones, like a large JSON payload, are costed each time). */
const COSTS_PER_DOCUMENT = 64;
const MAX_COST_KEY_LENGTH = 1024;

function costCheck(maxCost: number): CostCheck {
  // Apollo hands the same parsed document to every request with the same query text (its document
  // cache), and the cost depends only on it, the operation and the variables: walking the
  // document again for every request of a busy query was a few percent of its CPU time.
  const costs = new WeakMap<DocumentNode, Map<string, number | 'over' | null>>();
  const costOf = (schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>, operationName: string | undefined) => {
    let known = costs.get(document);
    if (!known) costs.set(document, (known = new Map()));
    const key = JSON.stringify([operationName ?? null, variables]);
    if (key.length > MAX_COST_KEY_LENGTH) return queryCost(schema, document, variables, operationName, maxCost);
    let cost = known.get(key);
    if (cost === undefined) {
      cost = queryCost(schema, document, variables, operationName, maxCost);
      if (known.size >= COSTS_PER_DOCUMENT) known.delete(known.keys().next().value!);
      known.set(key, cost);
    }
    return cost;
  };
  return (schema, document, variables, operationName) => {
    const cost = costOf(schema, document, variables, operationName);
    if (cost === 'over' || (cost !== null && cost > maxCost)) {
      const found = cost === 'over' ? 'far more' : String(cost);
      throw new AppError(ErrorCode.QUERY_TOO_COMPLEX, `Query cost limit of ${maxCost} exceeded, found ${found}.`, {
        limit: 'cost',
      });
    }
  };
}

function costLimitPlugin(checkCost: CostCheck): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request, operationName }) {
          checkCost(schema, document, request.variables ?? {}, operationName ?? undefined);
        },
      };
    },
  };
}

// graphql-js's wording, typo included ("more that") in 16.x.
const VALIDATION_ABORTED_MESSAGE = 'Validation aborted.';
// graphql-js's MaxIntrospectionDepthRule (in the specified rules).
const INTROSPECTION_DEPTH_MESSAGE = 'Maximum introspection depth exceeded';
const TOKEN_LIMIT_MESSAGE = /^Syntax Error: Document contains more th(?:an|at) (\d+) tokens/;

function queryLimitOf(error: unknown): { limit: LimitName; message: string } | null {
  const tooComplex = appErrorIn(error);
  if (tooComplex?.code === ErrorCode.QUERY_TOO_COMPLEX)
    return { limit: tooComplex.details.limit as LimitName, message: tooComplex.message };
  const original = (error as GraphQLError | undefined)?.originalError as GraphQLError | undefined;
  if (!original) return null;
  if (original.extensions?.code === ErrorCode.QUERY_TOO_COMPLEX) {
    return { limit: original.extensions.limit as LimitName, message: original.message };
  }
  if (original.message === INTROSPECTION_DEPTH_MESSAGE) {
    return {
      limit: 'depth',
      message: 'Introspection nesting limit exceeded (fields, interfaces, possibleTypes or inputFields nested more than 3 deep).',
    };
  }
  if (original.message === VALIDATION_ABORTED_MESSAGE) {
    return { limit: 'validation', message: 'Query too complex to validate (too many fields of the same name to compare).' };
  }
  const tokens = TOKEN_LIMIT_MESSAGE.exec(original.message);
  if (tokens) return { limit: 'tokens', message: `Query token limit of ${tokens[1]} exceeded.` };
  return null;
}

type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * Apollo answers limit violations found while parsing or validating as GRAPHQL_PARSE_FAILED /
 * GRAPHQL_VALIDATION_FAILED (already HTTP 400); this gives them the contract's QUERY_TOO_COMPLEX,
 * graphql-js's own limits (tokens, introspection nesting, the same-name field budget) included.
 */
export function withQueryLimitCodes(formatError: FormatError): FormatError {
  return (formatted, error) => {
    const limit = queryLimitOf(error);
    if (!limit) return formatError(formatted, error);
    return formatError(
      {
        message: limit.message,
        locations: formatted.locations,
        extensions: { ...formatted.extensions, code: ErrorCode.QUERY_TOO_COMPLEX, limit: limit.limit },
      },
      error,
    );
  };
}
