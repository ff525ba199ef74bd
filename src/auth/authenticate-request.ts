import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler, Response } from 'express';
import type { AuthService, Principal } from './auth.service';
import { AppError, appErrorIn, ErrorCode } from '../graphql/errors';
import type { ApiKeyRateLimiter } from '../limits/rate-limit';
import { recordError, recordPrincipal } from '../observability/request-log';

const MESSAGES = {
  malformed: 'Invalid API key: it is not an Alloy organization API key (they start with `alloy_sk_`)',
  unknown: 'Invalid API key',
  revoked: 'This API key has been revoked',
} as const;

/**
 * The one check of a key, for every transport (the `api-key` header, a websocket's
 * `connection_init`): its principal, or UNAUTHENTICATED saying what is wrong with it.
 */
export async function authenticateKey(rawKey: string, auth: AuthService): Promise<Principal> {
  const result = await auth.authenticate(rawKey);
  if (typeof result === 'string') {
    throw new AppError(ErrorCode.UNAUTHENTICATED, MESSAGES[result as keyof typeof MESSAGES] ?? 'Invalid API key');
  }
  return result;
}

/**
 * Reads the `api-key` header. Returns null when the request carries no key at all (the caller
 * decides whether that is allowed); throws UNAUTHENTICATED (HTTP 401) for a bad key or a bearer token.
 */
export async function authenticateHeaders(headers: IncomingHttpHeaders, auth: AuthService): Promise<Principal | null> {
  const header = headers['api-key'];
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw.trim() === '') {
    if (/^\s*bearer\s/i.test(headers.authorization ?? '')) {
      throw new AppError(
        ErrorCode.UNAUTHENTICATED,
        'Bearer tokens are not accepted: send the raw organization API key in the `api-key` header (api-key: alloy_sk_…)',
      );
    }
    return null;
  }
  return authenticateKey(raw, auth);
}

/** What `authenticateRequests` found: who sent the request, or why it is refused. */
type Authentication = { principal: Principal | null } | { refused: unknown };

const AUTHENTICATION = 'authentication';

/**
 * The one authentication of HTTP routes that take the `api-key` header (`/graphql`,
 * `GET /files/:id/content`): authenticates the key, names the caller in the request's log line,
 * and spends one request of the key's rate limit (setting the `RateLimit-*` headers). A refusal
 * (bad key, bearer token, spent budget, database away) is not answered here but kept for
 * `principalOf`, so that each route answers it in its own way and order: `/graphql` through
 * Apollo (after its CSRF check, in Apollo's error format, 503 for an outage), the file route
 * only when it needs the key (a signed URL needs none).
 */
export function authenticateRequests(auth: AuthService, rateLimits: ApiKeyRateLimiter): RequestHandler {
  return async (req, res, next) => {
    let authentication: Authentication;
    try {
      const principal = await authenticateHeaders(req.headers, auth);
      recordPrincipal(res, principal);
      if (principal) await rateLimits.consume(principal.keyId, res);
      authentication = { principal };
    } catch (refused) {
      authentication = { refused };
    }
    res.locals[AUTHENTICATION] = authentication;
    next();
  };
}

/**
 * The caller `authenticateRequests` found for this request (null: no key), or undefined when it
 * refused the request, without recording or throwing anything: for a path that leaves refusals to
 * the route that answers them (src/http/graphql-post.ts leaves them to Apollo).
 */
export function acceptedPrincipal(res: Response): Principal | null | undefined {
  const authentication = res.locals[AUTHENTICATION] as Authentication | undefined;
  return authentication && 'principal' in authentication ? authentication.principal : undefined;
}

/**
 * The caller `authenticateRequests` found for this request: null when it carries no key. Throws
 * the refusal instead (AppError UNAUTHENTICATED or RATE_LIMITED, or the database's error), after
 * recording its code for the request's log line.
 */
export function principalOf(res: Response): Principal | null {
  const authentication = res.locals[AUTHENTICATION] as Authentication | undefined;
  if (!authentication) throw new Error('authenticateRequests must run before principalOf');
  if ('refused' in authentication) {
    // Anything without a code (a database failure) is answered as an internal error.
    recordError(res, appErrorIn(authentication.refused)?.code ?? 'INTERNAL_SERVER_ERROR');
    throw authentication.refused;
  }
  return authentication.principal;
}
