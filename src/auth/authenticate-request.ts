import type { IncomingHttpHeaders } from 'node:http';
import type { AuthService, Principal } from './auth.service';
import { AppError, ErrorCode } from '../graphql/errors';

const MESSAGES = {
  malformed: 'Invalid API key: it is not an Alloy organization API key (they start with `alloy_sk_`)',
  unknown: 'Invalid API key',
  revoked: 'This API key has been revoked',
} as const;

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
  const result = await auth.authenticate(raw);
  if (typeof result === 'string') {
    throw new AppError(ErrorCode.UNAUTHENTICATED, MESSAGES[result as keyof typeof MESSAGES] ?? 'Invalid API key');
  }
  return result;
}
