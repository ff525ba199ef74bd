/**
 * Errors that mean "the database cannot be reached right now" rather than "this statement is
 * wrong": the server is down, restarting or refusing connections, or the connection broke. Such
 * a request may succeed if retried later; every other database error is a bug or bad data.
 */

/** Socket errors of the driver when the server is down or the network between is. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs: admin_shutdown, crash_shutdown, cannot_connect_now (starting up or shutting down),
 * too_many_connections; class 08 (connection exception) is matched by prefix.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** node-postgres and pg-pool report a lost or never-made connection with these messages and no code. */
const DRIVER_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const { code, message, syscall } = error as { code?: unknown; message?: unknown; syscall?: unknown };
  if (typeof code === 'string') {
    if (UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    // Only the raw socket error node-postgres passes on (it names its syscall): HTTP clients (the
    // storage SDK's GaxiosError) copy the same codes onto errors of their own, which are no outage
    // of the database.
    if (NETWORK_CODES.has(code) && typeof syscall === 'string') return true;
  }
  if (typeof message === 'string' && DRIVER_MESSAGES.test(message)) return true;
  // TypeORM's QueryFailedError keeps the driver's error; GraphQL's located errors and Node's
  // AggregateError (a host with several addresses) wrap theirs. `cause` is not followed: HTTP
  // clients (fetch) put their socket errors there.
  const wrapped = error as { driverError?: unknown; originalError?: unknown; errors?: unknown };
  const inner = [wrapped.driverError, wrapped.originalError, ...(Array.isArray(wrapped.errors) ? wrapped.errors : [])];
  return inner.some((e) => e !== error && isDatabaseUnavailable(e, depth + 1));
}

/**
 * What to log of a driver error: its kind, code and message. The error object itself carries
 * the whole pg client (sockets, buffers, connection parameters), which has no place in a log line.
 * Log it under a key of its own (not pino's `err`, whose serializer would rewrite `type`).
 */
export function describeDatabaseError(error: unknown): { type: string; message: string; code?: string } {
  // Duck-typed: errors of Node's own modules may come from another realm (e.g. under jest).
  const { name, message, code } = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  if (typeof message !== 'string') return { type: typeof error, message: String(error) };
  return { type: typeof name === 'string' ? name : 'Error', message, ...(typeof code === 'string' ? { code } : {}) };
}
