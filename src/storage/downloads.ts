import type { Readable } from 'node:stream';
import type { ByteRange, StorageDriver } from './backend/driver';
import type { UrlSigner } from './url-signer';

export const DEFAULT_URL_EXPIRY_SECONDS = 3600;
/** GCS V4 signed URLs last at most 7 days; the disk driver keeps the same bound. */
export const MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600;

/** A file as downloads need it. */
export interface StoredFile {
  id: string;
  name: string;
  objectKey: string;
  contentType: string;
}

/** A file's bytes, and URLs that serve them without an API key. */
export class Downloads {
  constructor(
    private readonly driver: StorageDriver,
    private readonly signer: UrlSigner,
  ) {}

  open(file: StoredFile, range?: ByteRange): Promise<Readable> {
    return this.driver.read(file.objectKey, range);
  }

  /** The backend's own signed URL, or (disk) one of this gateway's content route. */
  async downloadUrl(file: StoredFile, baseUrl: string, expiresIn: number | null | undefined): Promise<string> {
    // The range (1 to MAX_URL_EXPIRY_SECONDS) is the argument's rule (storage.resolver.ts).
    const seconds = expiresIn ?? DEFAULT_URL_EXPIRY_SECONDS;
    const expiresAt = new Date(Date.now() + seconds * 1000);
    const signed = await this.driver.signedUrl(file.objectKey, { expiresAt, fileName: file.name, contentType: file.contentType });
    if (signed) return signed;
    const { expires, signature } = await this.signer.sign(file.id, expiresAt);
    return `${baseUrl}/files/${file.id}/content?expires=${expires}&signature=${signature}`;
  }

  /**
   * A URL serving the bytes of `file.objectKey` (the version whose etag is `etag`), also after the
   * file was overwritten, for as long as that object is kept: the backend's signed URL of that
   * object, or (disk) the content route with the etag in the signed query.
   */
  async versionUrl(file: StoredFile, etag: string, baseUrl: string, expiresAt: Date): Promise<string> {
    const signed = await this.driver.signedUrl(file.objectKey, { expiresAt, fileName: file.name, contentType: file.contentType });
    if (signed) return signed;
    const { expires, signature } = await this.signer.sign(file.id, expiresAt, etag);
    return `${baseUrl}/files/${file.id}/content?etag=${etag}&expires=${expires}&signature=${signature}`;
  }

  verifySignature(fileId: string, expires: string, signature: string, etag?: string): Promise<boolean> {
    return this.signer.verify(fileId, expires, signature, Date.now(), etag);
  }
}
