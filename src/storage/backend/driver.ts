import type { Readable } from 'node:stream';

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface SignedUrlOptions {
  expiresAt: Date;
  fileName: string;
  contentType: string;
}

export interface WriteOptions {
  contentType: string;
  /**
   * The object must not appear at its key before this has resolved (the upload's pending record
   * is committed by then, so the sweeper knows the key); when it rejects, nothing appears. The
   * bytes stream meanwhile.
   */
  visibleAfter: Promise<unknown>;
}

/**
 * Where bytes live. Keys are immutable and opaque (`<orgId>/<objectId>`); the folder tree never
 * reaches the driver, so renames and moves never touch it.
 */
export interface StorageDriver {
  readonly name: string;
  /**
   * Streams `source` into a new object at `key`, which appears there whole or not at all. Rejects
   * when `source` errors; what an interrupted write leaves behind is removed by the write itself,
   * or after a crash by `sweepIncomplete`.
   */
  write(key: string, source: Readable, options: WriteOptions): Promise<void>;
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Removes the object; a missing object is not an error (deletion is retried by jobs). */
  delete(key: string): Promise<void>;
  /** A URL that serves the object without an API key, or null when the gateway must serve it itself. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string | null>;
  /** Removes what writes cut short by a crash left, older than `olderThanMs`; how many it removed. */
  sweepIncomplete(olderThanMs: number): Promise<number>;
  /** Readiness: the backend answers. */
  check(): Promise<void>;
}
