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

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FILE_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUERY_TOO_COMPLEX: 400,
};

/**
 * An error a client can act on. Services throw these; anything else that escapes a resolver is
 * treated as internal and masked in production.
 */
export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    const status = HTTP_STATUS[code];
    super(message, { extensions: { code, ...extra, ...(status ? { http: { status } } : {}) } });
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badInput = (message: string, extra: Record<string, unknown> = {}) => new AppError(ErrorCode.BAD_USER_INPUT, message, extra);
