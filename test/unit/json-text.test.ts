import { describeJsonTextProblem, findJsonTextProblem, MAX_JSON_DEPTH } from '../../src/validation/json-text';

/** `levels` objects, each the `next` of the one before, around a string. */
const nested = (levels: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { next: value };
  return value;
};

describe('findJsonTextProblem', () => {
  it('finds nothing in well-formed text, astral characters and NUL included', () => {
    expect(findJsonTextProblem({ a: ['😀 𝄞', '\u0000', { 'é key': 1, b: null, c: true }] }, 'payload')).toBeNull();
    expect(findJsonTextProblem(42, 'payload')).toBeNull();
  });

  it('names the first lone surrogate in document order, in a value or a key, with its path', () => {
    expect(findJsonTextProblem({ a: 'fine', list: ['ok', 'bad \ud800'], z: '\udc00' }, 'payload')).toEqual({
      kind: 'lone-surrogate',
      at: 'payload.list[1]',
      inKey: false,
      unit: 'U+D800',
    });
    expect(findJsonTextProblem({ ok: { 'key \udfff': 1 } }, 'input')).toEqual({
      kind: 'lone-surrogate',
      at: 'input.ok["key \\udfff"]',
      inKey: true,
      unit: 'U+DFFF',
    });
    expect(findJsonTextProblem('a\ud83d', '$')).toEqual({ kind: 'lone-surrogate', at: '$', inKey: false, unit: 'U+D83D' });
  });

  it(`allows ${MAX_JSON_DEPTH} levels of nesting and refuses one more, at any depth without recursion`, () => {
    expect(findJsonTextProblem(nested(MAX_JSON_DEPTH), 'payload')).toBeNull();
    expect(findJsonTextProblem(nested(MAX_JSON_DEPTH + 1), 'payload')).toEqual({
      kind: 'too-deep',
      at: `payload${'.next'.repeat(MAX_JSON_DEPTH)}`,
    });
    expect(findJsonTextProblem(nested(100_000), 'payload')?.kind).toBe('too-deep');
  });

  it('looks into plain objects and arrays only', () => {
    expect(findJsonTextProblem({ when: new Date(0), buffer: Buffer.from('\ud800') }, 'x')).toBeNull();
  });
});

describe('describeJsonTextProblem', () => {
  it('says where the lone surrogate is, what holds it and why it is refused', () => {
    expect(
      describeJsonTextProblem('Argument "payload" of triggerWorkflow', 'payload', {
        kind: 'lone-surrogate',
        at: 'payload.a',
        inKey: true,
        unit: 'U+D800',
      }),
    ).toBe(
      'Argument "payload" of triggerWorkflow is not valid Unicode at payload.a: an object key holds a lone surrogate (U+D800), half of a UTF-16 pair, which no UTF-8 text can carry',
    );
    expect(describeJsonTextProblem('The payload', 'payload', { kind: 'lone-surrogate', at: 'payload', inKey: false, unit: 'U+DC00' })).toBe(
      'The payload is not valid Unicode: a string holds a lone surrogate (U+DC00), half of a UTF-16 pair, which no UTF-8 text can carry',
    );
  });

  it('says how deep a value may be', () => {
    expect(describeJsonTextProblem('The payload', 'payload', { kind: 'too-deep', at: 'payload.a' })).toBe(
      `The payload is nested more than ${MAX_JSON_DEPTH} levels deep, the most a JSON value may be`,
    );
  });
});
