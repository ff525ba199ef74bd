import { checkPathLength, joinPath, MAX_NAME_BYTES, MAX_PATH_BYTES, normalizeName, parsePath } from '../../src/storage/names';
import { thrownBy } from '../support/thrown';

/** The code and message of the INVALID_PATH that `work` throws. */
const invalidPath = (work: () => unknown) => {
  const error = thrownBy(work);
  expect(error.code).toBe('INVALID_PATH');
  return error.message as string;
};

describe('normalizeName', () => {
  it('keeps an ordinary name as it is, dots, spaces and emoji included', () => {
    for (const name of ['report.txt', '.hidden', '...', 'a b', 'résumé', '😀', 'x'.repeat(MAX_NAME_BYTES)])
      expect(normalizeName(name)).toBe(name);
  });

  it('normalises to NFC, so that the two spellings of é are one name', () => {
    const decomposed = 'cafe\u0301';
    expect(normalizeName(decomposed)).toBe('caf\u00e9');
    expect(normalizeName(decomposed)).toHaveLength(4);
  });

  it.each([
    ['empty', '', 'Name is empty'],
    ['"."', '.', 'Name "." is not allowed'],
    ['".."', '..', 'Name ".." is not allowed'],
    ['with a slash', 'a/b', 'Name "a/b" contains "/"; use a path to address nested entries'],
    ['with NUL', 'a\u0000b', 'Name contains a control character (such as NUL or a newline)'],
    ['with a newline', 'a\nb', 'Name contains a control character (such as NUL or a newline)'],
    ['with DEL', 'a\u007fb', 'Name contains a control character (such as NUL or a newline)'],
    ['with a C1 control', 'a\u0085b', 'Name contains a control character (such as NUL or a newline)'],
  ])('refuses a name %s with INVALID_PATH saying why', (_label, name, message) => {
    expect(invalidPath(() => normalizeName(name))).toBe(message);
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    expect(normalizeName('é'.repeat(127))).toHaveLength(127); // 254 bytes
    expect(invalidPath(() => normalizeName('é'.repeat(128)))).toBe('Name is 256 bytes long; at most 255 bytes (UTF-8) are allowed');
    expect(invalidPath(() => normalizeName('x'.repeat(MAX_NAME_BYTES + 1)))).toMatch(/^Name is 256 bytes long/);
  });
});

describe('parsePath', () => {
  it('splits an absolute path into its names; the root is no names', () => {
    expect(parsePath('/')).toEqual([]);
    expect(parsePath('/a')).toEqual(['a']);
    expect(parsePath('/reports/2024/q1.csv')).toEqual(['reports', '2024', 'q1.csv']);
  });

  it('tolerates one trailing slash', () => {
    expect(parsePath('/a/')).toEqual(['a']);
    expect(parsePath('/a/b/')).toEqual(['a', 'b']);
  });

  it('normalises every segment to NFC', () => {
    expect(parsePath('/cafe\u0301/nai\u0308ve')).toEqual(['caf\u00e9', 'na\u00efve']);
  });

  it.each([
    ['relative', 'a/b', 'Path "a/b" must be absolute (start with "/")'],
    ['empty', '', 'Path "" must be absolute (start with "/")'],
    ['with an empty name inside', '/a//b', 'Path "/a//b" contains an empty name ("//")'],
    ['of two slashes', '//', 'Path "//" contains an empty name ("//")'],
    ['with ".."', '/a/../b', 'Name ".." is not allowed'],
    ['with "."', '/a/./b', 'Name "." is not allowed'],
    ['with NUL in a name', '/a/b\u0000c', 'Name contains a control character (such as NUL or a newline)'],
  ])('refuses a path %s with INVALID_PATH', (_label, path, message) => {
    expect(invalidPath(() => parsePath(path))).toBe(message);
  });

  it('refuses a path over 1024 UTF-8 bytes before looking at its names', () => {
    const longest = `/${'a'.repeat(MAX_PATH_BYTES - 1)}`;
    expect(thrownBy(() => parsePath(longest)).message).toMatch(/^Name is/); // the length passes; the one long name does not
    expect(invalidPath(() => parsePath(`/${'a'.repeat(MAX_PATH_BYTES)}`))).toBe(
      'Path is 1025 bytes long; at most 1024 bytes (UTF-8) are allowed',
    );
    expect(parsePath(`/${Array.from({ length: 4 }, () => 'é'.repeat(127)).join('/')}`)).toHaveLength(4); // 4 × 254 + 4 = 1020 bytes
  });
});

describe('joinPath and checkPathLength', () => {
  it('joins names back into the path they came from', () => {
    expect(joinPath([])).toBe('/');
    expect(joinPath(['a'])).toBe('/a');
    for (const path of ['/', '/a', '/reports/2024/q1.csv', '/caf\u00e9/😀']) expect(joinPath(parsePath(path))).toBe(path);
  });

  it('accepts exactly 1024 bytes and refuses one more', () => {
    expect(() => checkPathLength('/'.repeat(MAX_PATH_BYTES))).not.toThrow();
    expect(invalidPath(() => checkPathLength('/'.repeat(MAX_PATH_BYTES + 1)))).toBe(
      'Path is 1025 bytes long; at most 1024 bytes (UTF-8) are allowed',
    );
    expect(invalidPath(() => checkPathLength('é'.repeat(513)))).toBe('Path is 1026 bytes long; at most 1024 bytes (UTF-8) are allowed');
  });
});
