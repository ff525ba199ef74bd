import { AppError, ErrorCode } from '../graphql/errors';

export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 1024;

/** C0 controls (incl. NUL), DEL and C1 controls: refused in entry names and in upload file names. */
export const CONTROL_CHARS = /\p{Cc}/u;

const invalid = (message: string) => new AppError(ErrorCode.INVALID_PATH, message);

/** One entry name, NFC-normalised, or INVALID_PATH saying what is wrong with it. */
export function normalizeName(raw: string): string {
  const name = raw.normalize('NFC');
  if (name.length === 0) throw invalid('Name is empty');
  if (name === '.' || name === '..') throw invalid(`Name "${name}" is not allowed`);
  if (name.includes('/')) throw invalid(`Name "${name}" contains "/"; use a path to address nested entries`);
  if (CONTROL_CHARS.test(name)) throw invalid('Name contains a control character (such as NUL or a newline)');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) throw invalid(`Name is ${bytes} bytes long; at most ${MAX_NAME_BYTES} bytes (UTF-8) are allowed`);
  return name;
}

/**
 * An absolute path split into its normalised segments; `/` is the root and gives []. A trailing
 * slash is tolerated ("/a/" is "/a"); empty segments inside ("/a//b") are not.
 */
export function parsePath(raw: string): string[] {
  const path = raw.normalize('NFC');
  if (!path.startsWith('/')) throw invalid(`Path "${raw}" must be absolute (start with "/")`);
  checkPathLength(path);
  if (path === '/') return [];
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed
    .slice(1)
    .split('/')
    .map((segment) => {
      if (segment === '') throw invalid(`Path "${raw}" contains an empty name ("//")`);
      return normalizeName(segment);
    });
}

export function joinPath(segments: readonly string[]): string {
  return `/${segments.join('/')}`;
}

export function checkPathLength(path: string): void {
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_PATH_BYTES) throw invalid(`Path is ${bytes} bytes long; at most ${MAX_PATH_BYTES} bytes (UTF-8) are allowed`);
}
