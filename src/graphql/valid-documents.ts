import { DocumentNode, GraphQLError, GraphQLSchema, parse, ParseOptions, specifiedRules, validate, ValidationRule } from 'graphql';

/** The query limits a document is parsed and validated with (src/limits/query-limits.ts makes them). */
export interface DocumentLimits {
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
}

/**
 * Valid documents are remembered by their text up to this many characters of text in all (a
 * parsed document takes roughly 10 to 20 times its text in memory: about 30 MB, the size of
 * Apollo's own document cache), each of at most MAX_DOCUMENT_CHARS.
 */
const MAX_TOTAL_CHARS = 2_000_000;
const MAX_DOCUMENT_CHARS = 256 * 1024;

/**
 * The parsed documents that passed validation, by query text, as Apollo's document cache does for
 * Apollo's path: validation depends only on the schema and the text, and clients send the same few
 * documents again and again (one instance serves HTTP operations and websocket subscriptions). Parsing and validating took about 0.5 ms of CPU per subscribe warm and 1.5 ms
 * cold, most of the gateway's work when 100 followers subscribe together (BENCHMARKS.md,
 * run-events). Refused documents are not kept. The same document object also lets the cost check
 * reuse its costs (query-limits.ts keys them by document).
 */
export class ValidDocuments {
  private readonly byText = new Map<string, DocumentNode>();
  private totalChars = 0;
  private readonly rules: ValidationRule[];

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: DocumentLimits,
  ) {
    this.rules = [...specifiedRules, ...limits.validationRules];
  }

  /**
   * The valid document of `query` (parsed and validated once per text, with the query limits), or
   * the errors Apollo Server answers for it: GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED
   * with HTTP status 400 (a websocket drops the status).
   */
  documentOf(query: string): DocumentNode | GraphQLError[] {
    let document = this.get(query);
    if (document) return document;
    try {
      document = parse(query, this.limits.parseOptions);
    } catch (error) {
      return [requestError(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
    }
    const invalid = validate(this.schema, document, this.rules);
    if (invalid.length) return invalid.map((error) => requestError(error, 'GRAPHQL_VALIDATION_FAILED'));
    this.add(query, document);
    return document;
  }

  private get(query: string): DocumentNode | undefined {
    const document = this.byText.get(query);
    if (document) {
      // Most recently used last: the first entry is the one to drop.
      this.byText.delete(query);
      this.byText.set(query, document);
    }
    return document;
  }

  private add(query: string, document: DocumentNode): void {
    if (query.length > MAX_DOCUMENT_CHARS || this.byText.has(query)) return;
    this.totalChars += query.length;
    for (const oldest of this.byText.keys()) {
      if (this.totalChars <= MAX_TOTAL_CHARS) break;
      this.byText.delete(oldest);
      this.totalChars -= oldest.length;
    }
    this.byText.set(query, document);
  }
}

/**
 * An error of the request itself as Apollo Server builds it (its SyntaxError and ValidationError):
 * the code, HTTP status 400, the original error kept.
 */
export function requestError(error: GraphQLError, code: string, status: number | undefined = 400): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: error.originalError ?? error,
    extensions: { ...(status ? { http: { status, headers: new Map<string, string>() } } : {}), ...error.extensions, code },
  });
}
