import { PgError, pgCode, retryOnDeadlock } from '../db/postgres-errors';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, ErrorCode } from '../graphql/errors';
import { metrics } from '../observability/metrics';
import type { StorageDriver } from './backend/driver';
import { chooseContentType } from './content-type';
import type { EntryStore, FileContent } from './entry-store';
import { checkPathLength, joinPath, normalizeName, parsePath } from './names';
import type { TextIndex } from './search/text-index';
import type { StorageEntry } from './storage-entry';
import type { TreeChanges } from './tree-changes';
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
 * autocommitted statement then puts it in place (a new file row, or the same row with the new
 * object and etag, the old content kept as a version: see versions.ts), takes the pending record
 * and writes the file's text row (PENDING: a drain reads it after the kick sent once this has
 * committed). Whatever a crash interrupts is found again:
 * - before the pending record commits, the driver has made nothing appear (a partial write is
 *   its own to sweep, see StorageDriver.sweepIncomplete);
 * - after it, until the commit statement completes, the record names the object and the orphan
 *   sweep deletes both (a statement whose gateway died is abandoned by Postgres, which checks the
 *   client's connection while it runs: client_connection_check_interval, data-source.ts);
 * - the statement commits the row, the text row and takes the record in one go; a kick lost
 *   after it is made up by the periodic drain.
 * A failed overwrite leaves the old row and object as they were.
 */
export class Uploads {
  constructor(
    private readonly store: EntryStore,
    private readonly changes: TreeChanges,
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
    const textStatus = this.texts.statusOf(contentType, name);

    const objectId = randomUUID();
    const objectKey = `${organizationId}/${objectId}`;
    const meter = this.size.meter(input.source);
    const pending = this.store.addPending(objectKey);
    pending.catch(() => undefined); // awaited by the driver, or by discard
    let committed = false;
    try {
      await this.driver.write(objectKey, meter, { contentType, visibleAfter: pending });
      const content = { objectKey, contentType, etag: objectId.replace(/-/g, ''), ...meter.digest() };
      const row = await this.commit(organizationId, folder, name, content, textStatus, path);
      committed = true;
      if (textStatus === 'PENDING') this.texts.kick();
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

  /**
   * The commit statement, again until it writes the file: when a folder on the way is missing it
   * is made first (`mkdir -p`, committed on its own as createFolder does: it stays if the upload
   * fails after it) and the file goes into it; when another upload added the name meanwhile, the
   * statement runs again and overwrites that file (its content kept as a version), as an upload
   * that came second does.
   */
  private async commit(
    organizationId: string,
    folder: string[],
    name: string,
    content: FileContent,
    textStatus: 'PENDING' | 'NOT_TEXT',
    path: string,
  ): Promise<StorageEntry> {
    let commit = await retryOnDeadlock(() => this.store.commitUpload(organizationId, folder, name, content, textStatus, path));
    for (;;) {
      // The sweeper took it (the upload outlived the orphan age): the object is gone.
      if (!commit.claimed) throw new Error(`upload of ${path} expired before it was committed`);
      if (commit.written) return commit.written.row;
      const folderId = commit.folderId ?? (await this.changes.createFolder(organizationId, joinPath(folder))).id;
      commit = await retryOnDeadlock(() => this.store.commitUploadInto(organizationId, folderId, name, content, textStatus, path));
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
