import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, Storage } from '@google-cloud/storage';
import type { ByteRange, SignedUrlOptions, StorageDriver, WrittenObject } from './driver';
import { HashingCounter } from './hashing';
import { contentDisposition } from '../content-disposition';

/** Objects in one Google Cloud Storage bucket (honours STORAGE_EMULATOR_HOST through the client). */
export class GcsDriver implements StorageDriver {
  readonly name = 'gcs';
  readonly bucket: Bucket;

  constructor(storage: Storage, bucketName: string) {
    this.bucket = storage.bucket(bucketName);
  }

  async write(key: string, source: Readable, options: { contentType: string }): Promise<WrittenObject> {
    const counter = new HashingCounter();
    const file = this.bucket.file(key);
    try {
      await pipeline(
        source,
        counter,
        // Single-request upload: no resumable session to leak; the md5 is checked by the server.
        file.createWriteStream({ resumable: false, contentType: options.contentType, validation: 'md5', metadata: { contentType: options.contentType } }),
      );
    } catch (error) {
      await file.delete({ ignoreNotFound: true }).catch(() => undefined);
      throw error;
    }
    return counter.result();
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
      responseDisposition: contentDisposition('attachment', options.fileName),
      responseType: options.contentType,
    });
    return url;
  }

  async check(): Promise<void> {
    await this.bucket.getFiles({ maxResults: 1, autoPaginate: false });
  }
}
