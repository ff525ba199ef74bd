import type { Readable } from 'node:stream';

export interface WrittenObject {
  size: number;
  /** Hex md5 of the bytes, computed while they streamed through. */
  md5: string;
}

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

/**
 * Where bytes live. Keys are immutable and opaque (`<orgId>/<objectId>`); the folder tree never
 * reaches the driver, so renames and moves never touch it.
 */
export interface StorageDriver {
  readonly name: string;
  /** Streams `source` into a new object at `key`. Rejects (leaving nothing or a partial object to sweep) when `source` errors. */
  write(key: string, source: Readable, options: { contentType: string }): Promise<WrittenObject>;
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Removes the object; a missing object is not an error (deletion is retried by jobs). */
  delete(key: string): Promise<void>;
  /** A URL that serves the object without an API key, or null when the gateway must serve it itself. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string | null>;
  /** Readiness: the backend answers. */
  check(): Promise<void>;
}
