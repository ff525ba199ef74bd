import { ValidateBy } from 'class-validator';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * The rules of an `idempotencyKey` argument (stored as a text primary key): 1 to 255 UTF-16 code
 * units, and no NUL, which PostgreSQL text cannot hold; lone surrogates never get here
 * (src/graphql/argument-text.ts). Refused as BAD_USER_INPUT naming the argument (argument-rules.ts).
 */
export function IsIdempotencyKey(): PropertyDecorator {
  const length = ValidateBy({
    name: 'idempotencyKeyLength',
    validator: {
      validate: (key: unknown) => typeof key === 'string' && key.length >= 1 && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH,
      defaultMessage: () => `idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    },
  });
  const storable = ValidateBy({
    name: 'idempotencyKeyStorable',
    validator: {
      validate: (key: unknown) => typeof key === 'string' && !key.includes('\u0000'),
      defaultMessage: () => 'idempotencyKey must not contain NUL (U+0000), which cannot be stored as text',
    },
  });
  // In this order: a key that breaks both is told about its length, as before.
  return (target, property) => {
    length(target, property);
    storable(target, property);
  };
}
