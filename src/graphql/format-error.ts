import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { describeDatabaseError, isDatabaseUnavailable } from '../db/unavailable';
import type { Logger } from '../observability/logger';
import { DATABASE_UNAVAILABLE_MESSAGE, DatabaseUnavailableError } from './database-unavailable';

/** Codes that describe the client's request and are safe to show as they are. */
const CLIENT_CODES = new Set([
  'UNAUTHENTICATED',
  'NOT_FOUND',
  'NAME_CONFLICT',
  'INVALID_PATH',
  'INVALID_MOVE',
  'FILE_TOO_LARGE',
  'WORKFLOW_NOT_FOUND',
  'WORKFLOW_NOT_STARTABLE',
  'WORKFLOW_IN_USE',
  'CHANNEL_DISABLED',
  'CONVERSATION_BUSY',
  'BAD_USER_INPUT',
  'RATE_LIMITED',
  'QUERY_TOO_COMPLEX',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/** SQLSTATE 22021 (invalid byte sequence: a NUL in text) and 22P05 (\u0000 in json that must become text). */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

function isUnstorableText(error: unknown): boolean {
  const code =
    (error as { driverError?: { code?: unknown }; code?: unknown } | null)?.driverError?.code ?? (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNSTORABLE_TEXT.has(code);
}

/**
 * Keeps client errors as they are and turns everything else into INTERNAL_SERVER_ERROR. When
 * `masked` (always but under an explicit NODE_ENV=development, see showsErrorDetails) the message
 * of an internal error is replaced (it may hold SQL or paths) and no stack trace leaves the
 * process; the original goes to the log. A database outage is told as such, so that clients retry
 * (the HTTP status, 503, is set where the error is raised).
 */
export function createFormatError(masked: boolean, logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      if (!masked) return formatted;
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const original = unwrapResolverError(error);
    // A GraphQL variable coercion error ("Variable $x got invalid value") has no code of its own.
    if (original instanceof GraphQLError && !(original as GraphQLError).originalError && !formatted.path) {
      return { message: formatted.message, locations: formatted.locations, extensions: { code: 'BAD_USER_INPUT' } };
    }
    // Not a bug but an outage: say so (in every environment), and log it without the driver's internals.
    if (original instanceof DatabaseUnavailableError || isDatabaseUnavailable(original)) {
      const cause = original instanceof DatabaseUnavailableError ? (original.originalError ?? original) : original;
      logger.warn({ error: describeDatabaseError(cause), path: formatted.path }, 'database unavailable');
      return {
        message: DATABASE_UNAVAILABLE_MESSAGE,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      };
    }
    // A value PostgreSQL cannot store as text (NUL) that no check refused first: the client's
    // input, not a server fault. Logged, because the argument deserves a check that names it.
    if (isUnstorableText(original)) {
      logger.warn({ error: describeDatabaseError(original), path: formatted.path }, 'input with a character PostgreSQL cannot store');
      return {
        message: 'The input holds a character that cannot be stored (NUL, U+0000)',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: 'BAD_USER_INPUT' },
      };
    }
    logger.error({ err: original, path: formatted.path }, 'internal error');
    return {
      message: masked ? 'Internal server error' : formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: 'INTERNAL_SERVER_ERROR',
        ...(masked ? {} : { stacktrace: formatted.extensions?.stacktrace }),
      },
    };
  };
}
