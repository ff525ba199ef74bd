import type { Readable } from 'node:stream';
import { FileUpload, Upload } from 'graphql-upload-minimal';
import { AppError, ErrorCode } from '../graphql/errors';
import { CONTROL_CHARS } from '../storage/names';
import type { ClientUpload } from '../storage/storage.types';

/**
 * The multipart adapter: malformed GraphQL multipart requests, told as the client's mistake, with
 * code BAD_USER_INPUT or INVALID_PATH and a message that says what is wrong (the HTTP status, 400
 * or 413 for too many files, is given in src/http/error-status.ts). The parsers (busboy,
 * graphql-upload-minimal) report these as plain errors without a code, which would be answered as
 * internal errors.
 */

const SPEC = 'see https://github.com/jaydenseric/graphql-multipart-request-spec';

/** The client's malformed multipart request. */
export class MultipartInputError extends AppError {
  constructor(
    code: ErrorCode,
    readonly problem: 'malformed' | 'too-many-files',
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

const refused = (code: ErrorCode, status: 400 | 413, message: string, extra: Record<string, unknown> = {}) =>
  new MultipartInputError(code, status === 413 ? 'too-many-files' : 'malformed', message, extra);

/** A parser failure (of the whole request, or of one file part) as the client's error. */
export function multipartInputError(error: unknown, at?: string): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const argument = at ? { argument: at.replace(/^variables\./, '') } : {};
  if (/^Malformed part header/.test(message)) {
    return refused(
      ErrorCode.BAD_USER_INPUT,
      400,
      'Malformed multipart request: a part header could not be read. Header values (such as a filename) cannot hold control characters like NUL or a newline; ' +
        `send such a name percent-encoded in filename*=UTF-8''… or pass it in the name argument`,
      argument,
    );
  }
  if (/^File missing in the request/.test(message)) {
    return refused(
      ErrorCode.BAD_USER_INPUT,
      400,
      `Malformed multipart request: no file arrived for ${at ?? 'the upload'}. The map names a part that is missing, or that is not a file ` +
        '(a part is a file only with a filename; an empty one, or a malformed one such as "\\" unquoted, is none)',
      argument,
    );
  }
  if (/^Invalid content-type/.test(message)) {
    return refused(
      ErrorCode.BAD_USER_INPUT,
      400,
      'Malformed multipart request: the content type needs a boundary (multipart/form-data; boundary=…)',
      argument,
    );
  }
  if (/max file uploads exceeded/.test(message)) {
    return refused(ErrorCode.BAD_USER_INPUT, 413, 'Malformed multipart request: at most one file per request', argument);
  }
  if (/^Unexpected end of (form|file|multipart data)/.test(message) || /disconnected/.test(message)) {
    return refused(ErrorCode.BAD_USER_INPUT, 400, 'Malformed multipart request: the body ended before its closing boundary', argument);
  }
  const detail = message.replace(/\s*\(https:\/\/github\.com\/jaydenseric\/graphql-multipart-request-spec\)\.?$/, '').replace(/\.$/, '');
  return refused(ErrorCode.BAD_USER_INPUT, 400, `Malformed multipart request: ${detail} (${SPEC})`, argument);
}

/** Upload instances in the parsed operations, with where they are (`variables.file`). */
function uploadsIn(value: unknown, at: string, found: Array<{ upload: Upload; at: string }> = []): Array<{ upload: Upload; at: string }> {
  if (value instanceof Upload) found.push({ upload: value, at });
  else if (Array.isArray(value)) value.forEach((item, i) => uploadsIn(item, `${at}.${i}`, found));
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) uploadsIn(item, at ? `${at}.${key}` : key, found);
  }
  return found;
}

/**
 * The file as resolvers get it (a ClientUpload): a stream that cannot be made (the parser already
 * gave up on the file, e.g. the client went away) is refused as the client's error, and the stream's
 * own failure (the body cut off while the file streamed in) is told as such by `clientError`.
 */
function clientUpload(file: FileUpload, at: string): ClientUpload {
  const create = file.createReadStream.bind(file);
  let stream: Readable | undefined;
  return Object.assign(file, {
    createReadStream: () => {
      try {
        return (stream = create());
      } catch (error) {
        throw multipartInputError(error, at);
      }
    },
    clientError: (error: unknown) =>
      error !== null && error !== undefined && stream?.errored === error ? multipartInputError(error, at) : undefined,
  });
}

/**
 * Makes each upload of the parsed `operations` fail as the client's error: a file part that never
 * arrived or broke while being parsed, and a filename holding control characters (INVALID_PATH).
 * The file's size is not checked here: the upload counts its bytes as they stream (UploadSizeLimit).
 */
export function guardUploads(operations: unknown): void {
  for (const { upload, at } of uploadsIn(operations, '')) {
    upload.promise = upload.promise.then(
      (file) => {
        const problem = CONTROL_CHARS.test(file.filename)
          ? 'holds a control character (such as NUL or a newline)'
          : file.filename === ''
            ? 'is empty (a filename made only of a path, such as "dir/", names no file)'
            : null;
        if (problem) {
          throw refused(ErrorCode.INVALID_PATH, 400, `The filename of ${at} ${problem}; rename the file or send it with another filename`, {
            argument: at.replace(/^variables\./, ''),
          });
        }
        return clientUpload(file, at);
      },
      (error: unknown) => {
        throw multipartInputError(error, at);
      },
    );
    upload.promise.catch(() => undefined);
  }
}
