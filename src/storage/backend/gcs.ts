import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, Storage } from '@google-cloud/storage';
import { create as contentDisposition } from 'content-disposition';
import type { ByteRange, SignedUrlOptions, StorageDriver, WriteOptions } from './driver';

/** Passes bytes through and holds back the end of the stream until `gate` resolves. */
function endAfter(gate: Promise<unknown>): Transform {
  return new Transform({
    transform: (chunk, _encoding, callback) => callback(null, chunk),
    flush: (callback) => void gate.then(() => callback(), callback),
  });
}

/** Objects in one Google Cloud Storage bucket (honours STORAGE_EMULATOR_HOST through the client). */
export class GcsDriver implements StorageDriver {
  readonly name = 'gcs';
  readonly bucket: Bucket;

  constructor(storage: Storage, bucketName: string) {
    this.bucket = storage.bucket(bucketName);
  }

  async write(key: string, source: Readable, options: WriteOptions): Promise<void> {
    const file = this.bucket.file(key);
    try {
      await pipeline(
        source,
        // A single-request upload creates the object only when its body is complete, so holding
        // back the end keeps it from appearing; one that breaks off leaves nothing to sweep.
        endAfter(options.visibleAfter),
        // The md5 is checked by the server.
        file.createWriteStream({
          resumable: false,
          contentType: options.contentType,
          validation: 'md5',
          metadata: { contentType: options.contentType },
        }),
      );
    } catch (error) {
      await file.delete({ ignoreNotFound: true }).catch(() => undefined);
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.bucket.file(key);
    // createReadStream reports a missing object only once read; ask first so callers get a 404 up front.
    const [exists] = await file.exists();
    if (!exists) throw Object.assign(new Error(`No such object: ${key}`), { code: 'ENOENT' });
    return file.createReadStream({ validation: false, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async delete(key: string): Promise<void> {
    await this.bucket.file(key).delete({ ignoreNotFound: true });
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const [url] = await this.bucket.file(key).getSignedUrl({
      version: 'v4',
      action: 'read',
      expires: options.expiresAt,
      responseDisposition: contentDisposition(options.fileName),
      responseType: options.contentType,
    });
    return url;
  }

  /** Single-request uploads are all or nothing: an interrupted one leaves no object. */
  async sweepIncomplete(): Promise<number> {
    return 0;
  }

  async check(): Promise<void> {
    await this.bucket.getFiles({ maxResults: 1, autoPaginate: false });
  }
}
