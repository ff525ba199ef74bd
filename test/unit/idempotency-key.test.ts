import { checkArgumentRules } from '../../src/graphql/argument-rules';
import { IsIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/workflows/idempotency-key';
import { thrownBy } from '../support/thrown';

class KeyArgs {
  @IsIdempotencyKey()
  idempotencyKey?: string | null;
}
const check = (idempotencyKey: string | null | undefined) => checkArgumentRules(Object.assign(new KeyArgs(), { idempotencyKey }));

describe('the idempotencyKey rule', () => {
  it('passes no key, and a key of 1 to 255 characters', () => {
    for (const key of [undefined, null, 'k', ' spaced key ', 'é😀', 'x'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH)])
      expect(() => check(key)).not.toThrow();
  });

  it.each([
    ['an empty key', '', 'idempotencyKey must be 1 to 255 characters'],
    ['a key of 256 characters', 'x'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1), 'idempotencyKey must be 1 to 255 characters'],
    ['a key with NUL', 'a\u0000b', 'idempotencyKey must not contain NUL (U+0000), which cannot be stored as text'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', (_label, key, message) => {
    const error = thrownBy(() => check(key));
    expect({ code: error.code, argument: error.details.argument, message: error.message }).toEqual({
      code: 'BAD_USER_INPUT',
      argument: 'idempotencyKey',
      message,
    });
  });
});
