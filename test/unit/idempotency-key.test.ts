import { checkIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/workflows/idempotency-key';
import { thrownBy } from '../support/thrown';

describe('checkIdempotencyKey', () => {
  it('is null without a key, and the key itself from 1 to 255 characters', () => {
    expect(checkIdempotencyKey(undefined)).toBeNull();
    expect(checkIdempotencyKey(null)).toBeNull();
    for (const key of ['k', ' spaced key ', 'é😀', 'x'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH)]) expect(checkIdempotencyKey(key)).toBe(key);
  });

  it.each([
    ['an empty key', '', 'idempotencyKey must be 1 to 255 characters'],
    ['a key of 256 characters', 'x'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1), 'idempotencyKey must be 1 to 255 characters'],
    ['a key with NUL', 'a\u0000b', 'idempotencyKey must not contain NUL (U+0000), which cannot be stored as text'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', (_label, key, message) => {
    const error = thrownBy(() => checkIdempotencyKey(key));
    expect({ code: error.extensions.code, argument: error.extensions.argument, message: error.message }).toEqual({ code: 'BAD_USER_INPUT', argument: 'idempotencyKey', message });
  });
});
