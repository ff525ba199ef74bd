import { GraphQLError } from 'graphql';

/** The error codes of the public contract (`extensions.code`). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  NOT_FOUND: 'NOT_FOUND',
  NAME_CONFLICT: 'NAME_CONFLICT',
  INVALID_PATH: 'INVALID_PATH',
  INVALID_MOVE: 'INVALID_MOVE',
  FILE_TOO_LARGE: 'FILE_TOO_LARGE',
  WORKFLOW_NOT_FOUND: 'WORKFLOW_NOT_FOUND',
  WORKFLOW_NOT_STARTABLE: 'WORKFLOW_NOT_STARTABLE',
  WORKFLOW_IN_USE: 'WORKFLOW_IN_USE',
  CHANNEL_DISABLED: 'CHANNEL_DISABLED',
  CONVERSATION_BUSY: 'CONVERSATION_BUSY',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error a client can act on: the one error type services throw, with a code of the contract and
 * details for the client (e.g. `{ argument: 'files' }`). It knows no transport: `graphQLErrorOf`
 * (below) is the one place that makes it a GraphQL error, src/http/error-status.ts the one that
 * gives it an HTTP status. Anything else that escapes a resolver is treated as internal and masked
 * in production.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** The GraphQL error of an AppError: its code and details as `extensions`, beside what the transport adds. */
export function graphQLErrorOf(error: AppError, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(error.message, { originalError: error, extensions: { code: error.code, ...error.details, ...extensions } });
}

/** The AppError a thrown error is, or wraps (a GraphQL error made of it by graphql-js, Apollo or graphQLErrorOf). */
export function appErrorIn(error: unknown): AppError | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    if (current instanceof AppError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}

export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badInput = (message: string, extra: Record<string, unknown> = {}) => new AppError(ErrorCode.BAD_USER_INPUT, message, extra);
