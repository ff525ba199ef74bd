import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config/config';
import type { NotificationListener } from '../db/notification-listener';
import type { Queue } from '../queue/queue';
import { createStorageDriver } from './backend/create-driver';
import type { StorageDriver } from './backend/driver';
import { Downloads } from './downloads';
import { EntryReads } from './entry-reads';
import { EntryStore } from './entry-store';
import { FileSnapshots } from './file-snapshots';
import { sweepOrphans } from './events/orphan-sweeper';
import { FolderCache } from './folder-cache';
import { ObjectDeletions } from './object-deletions';
import { StatementRunner } from '../db/statements';
import { Search } from './search/search';
import { TextIndex } from './search/text-index';
import { TextStore } from './search/text-store';
import { Trash } from './trash';
import { TreeChanges } from './tree-changes';
import { UploadSizeLimit } from './upload-size';
import { Uploads } from './uploads';
import { UrlSigner } from './url-signer';
import { FileVersions } from './versions';

/** How often the deletion of an object still in use is tried again. */
export const KEPT_OBJECT_RECHECK_SECONDS = 60;

/**
 * The storage capability: the organization tree in Postgres (EntryStore, the one owner of its
 * SQL), the bytes behind a driver, and the services on top of both.
 */
export class Storage {
  readonly store: EntryStore;
  readonly folderCache = new FolderCache();
  readonly deletions: ObjectDeletions;
  readonly reads: EntryReads;
  readonly changes: TreeChanges;
  readonly trash: Trash;
  readonly versions: FileVersions;
  readonly uploads: Uploads;
  readonly downloads: Downloads;
  /** The text of files, read by a drain after each upload, and reindexing. */
  readonly texts: TextIndex;
  /** Search over names and the text inside files. */
  readonly search: Search;
  readonly snapshots: FileSnapshots;
  /**
   * Of the object keys about to be deleted, those still in use (the composition root answers with
   * the keys that active workflow runs were given); those are deleted later instead.
   */
  readonly keepObjects: (keys: string[]) => Promise<Set<string>>;
  /** How long until the deletion of an object still in use is tried again (tests shorten it). */
  keptObjectRecheckSeconds = KEPT_OBJECT_RECHECK_SECONDS;

  constructor(
    db: DataSource,
    queue: Queue,
    readonly driver: StorageDriver,
    urlSigningSecret: string | undefined,
    maxUploadBytes: number,
    keepObjects: (keys: string[]) => Promise<Set<string>> = async () => new Set(),
  ) {
    this.keepObjects = keepObjects;
    const sql = new StatementRunner(db);
    this.store = new EntryStore(sql);
    this.deletions = new ObjectDeletions(queue);
    this.reads = new EntryReads(this.store, this.folderCache);
    const textStore = new TextStore(sql);
    this.texts = new TextIndex(textStore, driver, queue);
    this.search = new Search(textStore, this.reads);
    this.changes = new TreeChanges(this.store, this.reads, this.folderCache);
    this.trash = new Trash(this.store, this.reads, this.folderCache, this.deletions);
    this.versions = new FileVersions(this.store, this.reads, this.deletions, this.texts);
    this.uploads = new Uploads(this.store, this.changes, driver, new UploadSizeLimit(maxUploadBytes), this.texts);
    this.downloads = new Downloads(driver, new UrlSigner(sql, urlSigningSecret));
    this.snapshots = new FileSnapshots(this.reads, this.downloads);
  }

  /** Caches folder paths from now on, kept true by the process's LISTEN connection. */
  start(listener: NotificationListener): Promise<void> {
    return this.folderCache.start(listener);
  }

  stop(): void {
    this.folderCache.stop();
  }

  /**
   * The deletion job's work: objects whose rows are gone (missing objects are fine). Objects that
   * are still in use (keepObjects) get a new job, KEPT_OBJECT_RECHECK_SECONDS later.
   */
  async deleteObjects(keys: string[]): Promise<void> {
    const kept = await this.keepObjects(keys);
    for (const key of keys) if (!kept.has(key)) await this.driver.delete(key);
    if (kept.size) await this.deletions.later([...kept], this.keptObjectRecheckSeconds);
  }

  /**
   * Inside the transaction that deletes an organization (`alloy org delete`): its tree and
   * versions go, and their objects to the deletion jobs sent in that same transaction.
   */
  async deleteOrganization(tx: EntityManager, organizationId: string): Promise<void> {
    await this.deletions.schedule(tx, await this.store.deleteOrganization(tx, organizationId));
  }

  /** The retention job's work: expired versions, then expired trash items; how many of each. */
  async expire(): Promise<{ versionFiles: number; trashItems: number }> {
    return { versionFiles: await this.versions.expire(), trashItems: await this.trash.expire() };
  }

  /** The orphan sweep (see events/orphan-sweeper.ts); callable from tests with any age. */
  sweepOrphans(olderThanMs: number): Promise<number> {
    return sweepOrphans(this.store, this.driver, olderThanMs);
  }
}

export interface StorageOptions {
  /** Wraps the driver the config names (tests count its calls or inject faults). */
  wrapDriver?: (driver: StorageDriver) => StorageDriver;
  /** See `Storage.keepObjects`. */
  keepObjects?: (keys: string[]) => Promise<Set<string>>;
}

/** Called by the composition root (src/app/services.ts) only. */
export function createStorage(db: DataSource, config: Config, queue: Queue, options: StorageOptions = {}): Storage {
  const driver = (options.wrapDriver ?? ((d) => d))(createStorageDriver(config));
  const storage = new Storage(db, queue, driver, config.urlSigningSecret, config.maxUploadBytes, options.keepObjects);
  storage.deletions.delaySeconds = config.storageDeletionDelaySeconds;
  storage.texts.maxBytes = config.textExtractionMaxBytes;
  storage.versions.keep = config.fileVersionsKeep;
  storage.versions.days = config.fileVersionDays;
  storage.trash.retentionDays = config.trashRetentionDays;
  return storage;
}
