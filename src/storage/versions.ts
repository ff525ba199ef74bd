import { randomUUID } from 'node:crypto';
import type { Page, PageQuery } from '../db/page';
import { retryOnDeadlock } from '../db/postgres-errors';
import { AppError, ErrorCode } from '../graphql/errors';
import type { EntryReads } from './entry-reads';
import type { EntryStore, FileVersionRow, VersionPosition } from './entry-store';
import type { ObjectDeletions } from './object-deletions';
import type { TextIndex } from './search/text-index';
import type { StorageEntry } from './storage-entry';

export const DEFAULT_FILE_VERSIONS_KEEP = 10;
export const DEFAULT_FILE_VERSION_DAYS = 30;

/** Files handled per expiry transaction. */
const BATCH = 100;
const MAX_EXPIRY_BATCHES = 1000;

/** Every etag (and so every version id) is 32 hex digits: a fresh object id or a restore's own. */
const ETAG = /^[0-9a-f]{32}$/;
export const newEtag = () => randomUUID().replace(/-/g, '');

const noSuchVersion = (path: string) => new AppError(ErrorCode.NOT_FOUND, `File ${JSON.stringify(path)} has no such version`);

/**
 * File versions. An overwrite keeps the content it replaces as a version (EntryStore's
 * PUT_FILE: the object key moves to a version row, nothing is copied); a restore makes a
 * version current again as a new version (sharing its object). A version's id is its etag.
 * Kept: the newest `keep` of a file (the current one included) and all younger than `days`;
 * the retention job deletes the others, and their objects (unless a restore shares them)
 * through the deletion jobs.
 */
export class FileVersions {
  keep = DEFAULT_FILE_VERSIONS_KEEP;
  days = DEFAULT_FILE_VERSION_DAYS;

  constructor(
    private readonly store: EntryStore,
    private readonly reads: EntryReads,
    private readonly deletions: ObjectDeletions,
    private readonly texts: TextIndex,
  ) {}

  /** One page of the file's versions, newest first, the current content first. */
  list(fileId: string, query: PageQuery<VersionPosition>): Promise<Page<FileVersionRow>> {
    return this.store.listVersions(fileId, query);
  }

  /** A version of a file the caller may read (current included), or null. */
  find(fileId: string, versionId: string): Promise<FileVersionRow | null> {
    return ETAG.test(versionId) ? this.store.version(fileId, versionId) : Promise.resolve(null);
  }

  /** Makes version `versionId` of the file at `path` its content again, as a new version; the file. */
  async restore(organizationId: string, path: string, versionId: string): Promise<StorageEntry> {
    const file = await this.reads.findByPath(organizationId, path);
    if (!file || file.kind !== 'file') throw new AppError(ErrorCode.NOT_FOUND, `No file at ${JSON.stringify(path)}`);
    if (!ETAG.test(versionId)) throw noSuchVersion(path);
    const { restored, readText } = await retryOnDeadlock(() =>
      this.store.transaction(async (tx) => {
        // Locked first: an overwrite, another restore or the expiry of this file's versions waits.
        if (!(await this.store.lockFile(tx, organizationId, file.id)))
          throw new AppError(ErrorCode.NOT_FOUND, `No file at ${JSON.stringify(path)}`);
        const restored = await this.store.restoreVersion(tx, file.id, versionId, newEtag());
        if (!restored) throw noSuchVersion(path);
        // The restored content has an etag of its own: its text is read again for search.
        return { restored, readText: await this.texts.schedule(tx, restored) };
      }),
    );
    if (readText) this.texts.kick();
    return restored;
  }

  /** The retention job's work: deletes expired versions of every file, in batches; how many files had some. */
  async expire(): Promise<number> {
    let files = 0;
    for (let batch = 0; batch < MAX_EXPIRY_BATCHES; batch++) {
      const handled = await this.store.expireVersions(this.days, this.keep, BATCH, (tx, keys) => this.deletions.schedule(tx, keys));
      files += handled;
      if (handled === 0) break;
    }
    return files;
  }
}
