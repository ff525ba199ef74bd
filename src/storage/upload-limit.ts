import type { Readable } from 'node:stream';
import { Transform, TransformCallback } from 'node:stream';
import { AppError, ErrorCode } from '../graphql/errors';

export const fileTooLarge = (limit: number) =>
  new AppError(ErrorCode.FILE_TOO_LARGE, `The file is larger than the upload limit of ${limit} bytes`, { maxBytes: limit });

/**
 * Passes bytes through and fails with FILE_TOO_LARGE as soon as more than `limit` arrive, or when
 * the multipart parser reports it truncated the file (busboy's `limit` event). Source errors end it
 * too. Once failed, the rest of the source is drained so the request can finish and get its answer.
 */
export class UploadLimit extends Transform {
  private bytes = 0;

  constructor(private readonly limit: number, private readonly source: Readable) {
    super();
    // Whoever reads this stream learns of its failure from its state (pipeline() rejects with the
    // error of a stream destroyed before it was called); until then a failure must not be an
    // unhandled 'error' event, which would crash the process (the driver awaits a mkdir first).
    this.on('error', () => undefined);
    // A source that failed before we got here (a multipart body cut off while the upload waited
    // for the database) emits no more events: without this, the upload would wait forever.
    if (source.destroyed) {
      process.nextTick(() => this.destroy(source.errored ?? new Error('Unexpected end of file')));
      return;
    }
    source.once('limit', () => this.destroy(fileTooLarge(limit)));
    source.once('error', (error) => this.destroy(error));
    source.pipe(this);
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return callback(fileTooLarge(this.limit));
    callback(null, chunk);
  }

  _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.source.unpipe(this);
    if (!this.source.destroyed) this.source.resume();
    callback(error);
  }
}
