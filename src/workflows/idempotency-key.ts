import { badInput } from '../graphql/errors';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * The `idempotencyKey` argument as it is stored (a text primary key), or BAD_USER_INPUT saying
 * what is wrong with it. NUL is refused because PostgreSQL text cannot hold it; lone surrogates
 * never get here (src/graphql/argument-text.ts).
 */
export function checkIdempotencyKey(key: string | null | undefined): string | null {
  if (key === null || key === undefined) return null;
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw badInput(`idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, { argument: 'idempotencyKey' });
  }
  if (key.includes('\u0000')) {
    throw badInput('idempotencyKey must not contain NUL (U+0000), which cannot be stored as text', { argument: 'idempotencyKey' });
  }
  return key;
}
