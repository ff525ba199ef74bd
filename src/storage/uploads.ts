import { PgError, pgCode, retryOnDeadlock } from '../db/postgres-errors';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, ErrorCode } from '../graphql/errors';
import { metrics } from '../observability/metrics';
import type { StorageDriver } from './backend/driver';
import { chooseContentType } from './content-type';
import type { EntryReads } from './entry-reads';
import { EntryStore } from './entry-store';
import { checkPathLength, joinPath, normalizeName, parsePath } from './names';
import type { TextIndex } from './search/text-index';
import type { StorageEntry } from './storage-entry';
import type { UploadSizeLimit } from './upload-size';

export interface UploadInput {
  folder: string;
  name: string;
  source: Readable;
  /** As sent by the client; octet-stream or empty means "guess from the name". */
  contentType?: string | null;
}

/**
 * Uploads: the bytes stream into a new object under a fresh key while its pending record is
 * written; the object appears at its key only once that record is committed, and one
 * transaction then puts it in place (a new file row, or the same row with the new object and
 * etag, the old content kept as a version: see versions.ts). Whatever a crash interrupts is found again:
 * - before the pending record commits, the driver has made nothing appear (a partial write is
 *   its own to sweep, see StorageDriver.sweepIncomplete);
 * - after it, until the transaction commits, the record names the object and the orphan sweep
 *   deletes both;
 * - the transaction commits the row and takes the record in one go.
 * A failed overwrite leaves the old row and object as they were.
 */
export class Uploads {
  constructor(
    private readonly store: EntryStore,
    private readonly reads: EntryReads,
    private readonly driver: StorageDriver,
    readonly size: UploadSizeLimit,
    private readonly texts: TextIndex,
  ) {}

  async uploadFile(organizationId: string, input: UploadInput): Promise<StorageEntry> {
    const folder = parsePath(input.folder);
    const name = normalizeName(input.name);
    const path = joinPath([...folder, name]);
    checkPathLength(path);
    const contentType = chooseContentType(input.contentType, name);
    // Before the transaction: makeFolders below must not need a second pool connection.
    const root = await this.reads.root(organizationId);

    const objectId = randomUUID();
    const objectKey = `${organizationId}/${objectId}`;
    const meter = this.size.meter(input.source);
    const pending = this.store.addPending(objectKey);
    pending.catch(() => undefined); // awaited by the driver, or by discard
    let committed = false;
    try {
      await this.driver.write(objectKey, meter, { contentType, visibleAfter: pending });
      const content = { objectKey, contentType, etag: objectId.replace(/-/g, ''), ...meter.digest() };
      const row = await retryOnDeadlock(() =>
        this.store.transaction(async (tx) => {
          const commit = await this.store.commitUpload(tx, organizationId, folder, name, content, path);
          // The sweeper took it (the upload outlived the orphan age): the object is gone.
          if (!commit.claimed) throw new Error(`upload of ${path} expired before it was committed`);
          let written = commit.written;
          if (!written) {
            // A folder on the way is missing, or another upload took the name first.
            const folderId = commit.folderId ?? (await this.store.makeFolders(tx, organizationId, root.id, folder)).id;
            written = await this.store.putFile(tx, organizationId, folderId, name, content, path);
          }
          // New bytes (a new file or an overwrite): their text is read for search after this commits.
          await this.texts.schedule(tx, written.row);
          return written.row;
        }),
      );
      committed = true;
      metrics.uploads.inc({ outcome: 'stored' });
      metrics.uploadBytes.inc(content.size);
      return row;
    } catch (error) {
      // Refusals for size are counted by the size rule.
      if (!(error instanceof AppError && error.code === ErrorCode.FILE_TOO_LARGE)) metrics.uploads.inc({ outcome: 'failed' });
      if (pgCode(error) === PgError.FOREIGN_KEY_VIOLATION) {
        throw new AppError(ErrorCode.NOT_FOUND, `Folder ${JSON.stringify(input.folder)} was deleted during the upload`);
      }
      throw error;
    } finally {
      if (!committed) await this.discard(objectKey, pending);
    }
  }

  /** Best effort; whatever fails here stays pending and the orphan sweep retries it. */
  private async discard(objectKey: string, pending: Promise<void>): Promise<void> {
    try {
      await pending;
    } catch {
      return; // nothing was recorded, so the driver let nothing appear
    }
    try {
      await this.driver.delete(objectKey);
      await this.store.removePending(objectKey);
    } catch {
      // left for the orphan sweep
    }
  }
}
