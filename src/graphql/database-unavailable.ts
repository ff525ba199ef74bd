import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { isDatabaseUnavailable } from '../db/unavailable';
import { ErrorCode } from './errors';

export const DATABASE_UNAVAILABLE_MESSAGE = 'Service temporarily unavailable: the database cannot be reached. Retry shortly.';

/** Seconds a client is asked to wait before retrying while the database is away. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The answer to a request that could not be served because the database is away: HTTP 503 with
 * `Retry-After`, code INTERNAL_SERVER_ERROR (the contract's code for server-side failures) and a
 * message that tells the client to retry instead of one that describes the driver's failure.
 */
export class DatabaseUnavailableError extends GraphQLError {
  constructor(cause: unknown) {
    super(DATABASE_UNAVAILABLE_MESSAGE, {
      // Kept for the log; duck-typed because Node's own errors may come from another realm.
      originalError: cause && typeof (cause as Error).message === 'string' ? (cause as Error) : undefined,
      extensions: {
        code: ErrorCode.INTERNAL_SERVER_ERROR,
        http: { status: 503, headers: new HeaderMap([['retry-after', String(RETRY_AFTER_SECONDS)]]) },
      },
    });
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * Wraps the per-request context builder (authentication reads the key from the database before
 * any resolver runs): a database outage there becomes a 503 instead of Apollo's generic 500.
 */
export function answerDatabaseOutage<A, R>(build: (args: A) => Promise<R>): (args: A) => Promise<R> {
  return async (args) => {
    try {
      return await build(args);
    } catch (error) {
      throw isDatabaseUnavailable(error) ? new DatabaseUnavailableError(error) : error;
    }
  };
}
