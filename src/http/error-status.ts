import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { AppError, appErrorIn, ErrorCode, graphQLErrorOf } from '../graphql/errors';
import { MultipartInputError } from './multipart-input';

/** HTTP statuses of the codes that have their own; every other error of a GraphQL answer keeps Apollo's (200, or 400 before execution). */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FILE_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUERY_TOO_COMPLEX: 400,
};

/** A malformed multipart request is the client's mistake: 400, or 413 for more files than one. */
const MULTIPART_STATUS: Record<MultipartInputError['problem'], number> = { malformed: 400, 'too-many-files': 413 };

/** The one place an application error gets an HTTP status (`undefined`: the transport's default). */
export function httpStatusOf(error: AppError): number | undefined {
  if (error instanceof MultipartInputError) return MULTIPART_STATUS[error.problem];
  return HTTP_STATUS[error.code];
}

/**
 * An application error thrown where Apollo reads HTTP statuses from the error itself (building the
 * context), as the GraphQL error Apollo answers; anything else as it is.
 */
export function apolloErrorOf(error: unknown): unknown {
  if (!(error instanceof AppError)) return error;
  const status = httpStatusOf(error);
  return graphQLErrorOf(error, status ? { http: { status } } : {});
}

/**
 * Gives an answer holding application errors their HTTP status (the last such error's, as Apollo
 * merges them). One that refuses the request before anything ran (a plugin's check: it has no
 * path) is the client's mistake, 400, unless its code has a status of its own.
 */
export function httpStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, response }) {
          const status = statusOfApplicationErrors(errors);
          if (status) response.http.status = status;
        },
      };
    },
  };
}

/** The status `httpStatusPlugin` gives an answer holding these errors (undefined: none of its own). */
export function statusOfApplicationErrors(errors: readonly GraphQLError[]): number | undefined {
  let found: number | undefined;
  for (const error of errors) {
    const appError = appErrorIn(error);
    const status = appError && (httpStatusOf(appError) ?? (error.path ? undefined : 400));
    if (status) found = status;
  }
  return found;
}
