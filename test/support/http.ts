export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }> };
  /** The body as it arrived, for checks on the text itself (leaks, byte order). */
  text: string;
}

export interface GraphQLRequestOptions {
  apiKey?: string;
  /** Sent as they are, after the api-key header. */
  headers?: Record<string, string>;
  /** E.g. AbortSignal.timeout(ms), so that a request that hangs fails the test. */
  signal?: AbortSignal;
}

/**
 * A POST to /graphql with `body` exactly as given (JSON text, bytes or a multipart FormData) and
 * only the headers named: for requests a client may send wrong on purpose. The answer must be JSON.
 */
export async function postGraphql<T = any>(
  baseUrl: string,
  body: string | Buffer | FormData,
  options: GraphQLRequestOptions & { contentType?: string } = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: {
      ...(options.contentType ? { 'content-type': options.contentType } : {}),
      ...(options.apiKey ? { 'api-key': options.apiKey } : {}),
      ...options.headers,
    },
    body,
    signal: options.signal,
  });
  const text = await response.text();
  let parsed: GraphQLResponse<T>['body'];
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`non-JSON answer (${response.status}): ${text.slice(0, 500)}`);
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

/** A GraphQL POST over real HTTP, as a client would send it. */
export function graphql<T = any>(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: GraphQLRequestOptions = {},
): Promise<GraphQLResponse<T>> {
  return postGraphql<T>(baseUrl, JSON.stringify({ query, variables }), {
    ...options,
    contentType: 'application/json',
    headers: { accept: 'application/graphql-response+json, application/json', ...options.headers },
  });
}

/** The `extensions.code` of the first error, or undefined. */
export const errorCode = (response: Pick<GraphQLResponse, 'body'>) => response.body.errors?.[0]?.extensions?.code;
