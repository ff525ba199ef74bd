import { checkArgumentRules } from '../../src/graphql/argument-rules';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageArgs } from '../../src/graphql/page-args';
import { createdAtIdPosition, decodeCursor, encodeCursor } from '../../src/graphql/relay';
import { thrownBy } from '../support/thrown';

/** The BAD_USER_INPUT `work` throws: its argument and message. */
const badInput = (work: () => unknown) => {
  const error = thrownBy(work);
  expect(error.code).toBe('BAD_USER_INPUT');
  return { argument: error.details.argument, message: error.message };
};
const NOT_A_CURSOR = { argument: 'after', message: 'after is not a cursor of this list' };
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('PageArgs rules', () => {
  const args = (value: object) => Object.assign(new PageArgs(), value);

  it('pass first from 0 to 100, and an omitted first (20, the default)', () => {
    expect(DEFAULT_PAGE_SIZE).toBe(20);
    for (const first of [undefined, null, 0, 1, 37, MAX_PAGE_SIZE]) expect(() => checkArgumentRules(args({ first }))).not.toThrow();
  });

  it.each([-1, 101, 1.5, Number.NaN, Infinity])('refuse first = %p naming the argument', (first) => {
    expect(badInput(() => checkArgumentRules(args({ first })))).toEqual({ argument: 'first', message: 'first must be between 0 and 100' });
  });
});

describe('cursors', () => {
  it('decode to the key they were made of, of the same list only', () => {
    const key = ['2026-01-02T03:04:05.678Z', '3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00', 42, null, 'é/😀'];
    const cursor = encodeCursor('entries', key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/); // safe in a URL and in JSON as it is
    expect(decodeCursor('entries', cursor, key.length)).toEqual(key);
  });

  it('mean "from the start" when there is none', () => {
    expect(decodeCursor('entries', null, 2)).toBeNull();
    expect(decodeCursor('entries', undefined, 2)).toBeNull();
  });

  it.each([
    ['of another list', encodeCursor('workflows', ['a', 'b'])],
    ['with a key of another length', encodeCursor('entries', ['a'])],
    ['that is not base64url JSON', 'bm90LWEtY3Vyc29y'],
    ['that is JSON but no array', base64url({ tag: 'entries' })],
    ['with no tag', base64url(['a', 'b'])],
    ['that is empty', ''],
    ['made of characters outside base64url', '%%%'],
  ])('refuse a cursor %s with BAD_USER_INPUT naming after', (_label, cursor) => {
    expect(badInput(() => decodeCursor('entries', cursor, 2))).toEqual(NOT_A_CURSOR);
  });
});

describe('createdAtIdPosition', () => {
  const id = '3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00';

  it('reads the creation time and id back from a cursor', () => {
    const cursor = encodeCursor('runs', ['2026-01-02T03:04:05.678Z', id]);
    expect(createdAtIdPosition('runs', cursor)).toEqual({ createdAt: new Date('2026-01-02T03:04:05.678Z'), id });
    expect(createdAtIdPosition('runs', null)).toBeNull();
  });

  it.each([
    ['a time that is no date', ['yesterday', id]],
    ['a time that is a number', [1767323045678, id]],
    ['an id that is no uuid', ['2026-01-02T03:04:05.678Z', "1' OR '1'='1"]],
    ['an id that is a number', ['2026-01-02T03:04:05.678Z', 7]],
  ])('refuses a cursor with %s', (_label, key) => {
    expect(badInput(() => createdAtIdPosition('runs', encodeCursor('runs', key)))).toEqual(NOT_A_CURSOR);
  });

  it("refuses another list's cursor even when its key has the same shape", () => {
    expect(badInput(() => createdAtIdPosition('runs', encodeCursor('teammates', ['2026-01-02T03:04:05.678Z', id])))).toEqual(NOT_A_CURSOR);
  });
});
