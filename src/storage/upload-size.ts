import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform, TransformCallback } from 'node:stream';
import { AppError, ErrorCode } from '../graphql/errors';
import { metrics } from '../observability/metrics';

/**
 * The upload size rule (MAX_UPLOAD_BYTES) and the count of uploads it refused: every place that
 * refuses an upload for its size asks this, so that a refusal is the same error and is counted
 * once, wherever it happens (the declared request length, the bytes as they stream, a local file).
 */
export class UploadSizeLimit {
  constructor(readonly maxBytes: number) {}

  /** The FILE_TOO_LARGE error for one refused upload (of `bytes`, when known), counted as refused. */
  refuse(bytes?: number): AppError {
    metrics.uploads.inc({ outcome: 'too_large' });
    const what = bytes === undefined ? 'The file is' : `${bytes} bytes is`;
    return new AppError(ErrorCode.FILE_TOO_LARGE, `${what} over the upload limit of ${this.maxBytes} bytes`, { maxBytes: this.maxBytes });
  }

  /** Whether a request of this declared length cannot carry a file within the limit plus `overheadBytes` of framing. */
  refusesRequestOf(contentLength: number, overheadBytes: number): boolean {
    return contentLength > this.maxBytes + overheadBytes;
  }

  /** Throws the refusal for a file whose size is known before it is read. */
  check(bytes: number): void {
    if (bytes > this.maxBytes) throw this.refuse(bytes);
  }

  /** The bytes of `source`, counted, hashed and refused as soon as there are too many. */
  meter(source: Readable): UploadMeter {
    return new UploadMeter(this, source);
  }
}

/**
 * Passes an upload's bytes through, counting them and computing their MD5, and fails with
 * FILE_TOO_LARGE at the first byte over the limit. Source errors end it too. Once failed, the
 * rest of the source is drained, so that the request can finish and get its answer.
 */
export class UploadMeter extends Transform {
  private readonly hash = createHash('md5');
  size = 0;

  constructor(
    private readonly limit: UploadSizeLimit,
    private readonly source: Readable,
  ) {
    super();
    // Whoever reads this stream learns of its failure from its state (pipeline() rejects with the
    // error of a stream destroyed before it was called); until then a failure must not be an
    // unhandled 'error' event, which would crash the process (a driver may await a mkdir first).
    this.on('error', () => undefined);
    // A source that failed before we got here (a multipart body cut off while the upload waited
    // for the database) emits no more events: without this, the upload would wait forever.
    if (source.destroyed) {
      process.nextTick(() => this.destroy(source.errored ?? new Error('Unexpected end of file')));
      return;
    }
    source.once('error', (error) => this.destroy(error));
    source.pipe(this);
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.limit.maxBytes) return callback(this.limit.refuse());
    this.hash.update(chunk);
    callback(null, chunk);
  }

  _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.source.unpipe(this);
    if (!this.source.destroyed) this.source.resume();
    callback(error);
  }

  /** Size and hex MD5 of everything that went through; once the stream has ended. */
  digest(): { size: number; md5: string } {
    return { size: this.size, md5: this.hash.digest('hex') };
  }
}
