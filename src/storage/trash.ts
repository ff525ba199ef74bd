import type { EntityManager } from 'typeorm';
import { isUuid } from '../db/ids';
import type { Page, PageQuery } from '../db/page';
import { PgError, pgCode, retryOnDeadlock } from '../db/postgres-errors';
import { AppError, ErrorCode } from '../graphql/errors';
import type { EntryReads } from './entry-reads';
import type { EntryStore, TrashPosition } from './entry-store';
import type { FolderCache } from './folder-cache';
import { checkPathLength, joinPath, MAX_NAME_BYTES, parsePath } from './names';
import type { ObjectDeletions } from './object-deletions';
import type { StorageEntry, TrashedEntry } from './storage-entry';

export const DEFAULT_TRASH_RETENTION_DAYS = 30;

/** Trash items purged per statement batch (expiry and emptyTrash); each item is one purge, whatever its tree holds. */
const BATCH = 100;
/** Bounds one expiry run (it runs again at its next period). */
const MAX_EXPIRY_BATCHES = 1000;
/** Numbered names tried for a restore under `to` when the name is taken there. */
const MAX_NUMBERED_NAMES = 100;

export interface DeletedCount {
  deletedFiles: number;
  deletedFolders: number;
}

const notFound = (path: string) => new AppError(ErrorCode.NOT_FOUND, `Nothing at ${JSON.stringify(path)}`);
const notInTrash = () => new AppError(ErrorCode.NOT_FOUND, 'No such entry in the trash');
const nameConflict = (path: string) =>
  new AppError(ErrorCode.NAME_CONFLICT, `An entry named ${JSON.stringify(path)} already exists; give \`to\` to restore it elsewhere`);

/** "report.txt" → "report (2).txt"; folders and names without an extension get the number at the end. */
function numberedName(name: string, kind: StorageEntry['kind'], n: number): string {
  const dot = kind === 'file' ? name.lastIndexOf('.') : -1;
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/**
 * The trash: `deleteEntry` moves an entry (a folder with its whole tree) there in one row update
 * (src/storage/entry-store.ts, LIVE_STEP: nothing below a trashed entry is reachable any more),
 * `restoreEntry` puts it back with its ids, versions and content, and purges (`permanent`,
 * `emptyTrash`, expiry after `retentionDays`) remove it for good, its objects and its versions'
 * objects going to the deletion jobs in the same transaction.
 */
export class Trash {
  /** Days a trash item is kept before the retention job purges it; 0 keeps it until emptied. */
  retentionDays = DEFAULT_TRASH_RETENTION_DAYS;

  constructor(
    private readonly store: EntryStore,
    private readonly reads: EntryReads,
    private readonly folders: FolderCache,
    private readonly deletions: ObjectDeletions,
  ) {}

  /** When a trash item goes by itself; null when the trash is kept until emptied. */
  expiresAt(trashedAt: Date): Date | null {
    return this.retentionDays > 0 ? new Date(trashedAt.getTime() + this.retentionDays * 24 * 3600 * 1000) : null;
  }

  /** Moves an entry and its tree to the trash, or with `permanent` removes it for good; what its tree held. */
  async deleteEntry(organizationId: string, path: string, permanent = false): Promise<DeletedCount> {
    const segments = parsePath(path);
    const levels = await this.store.walk(organizationId, segments);
    const entry = levels.length === segments.length + 1 ? levels[segments.length] : null;
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw new AppError(ErrorCode.INVALID_PATH, 'The root folder "/" cannot be deleted');
    try {
      if (!permanent) {
        const count = await this.store.trash(organizationId, entry.id, joinPath(segments));
        if (!count) throw notFound(path);
        return { deletedFiles: count.files, deletedFolders: count.folders };
      }
      const root = await this.reads.root(organizationId);
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.store.transaction(async (tx) => {
            const purged = await this.purge(tx, organizationId, root.id, entry.id, null);
            if (!purged) throw notFound(path);
            return purged;
          });
        } catch (error) {
          // An entry or version was added below the folder while we removed it; take the new state again.
          if (pgCode(error) === PgError.FOREIGN_KEY_VIOLATION && attempt < 3) continue;
          throw error;
        }
      }
    } finally {
      if (entry.kind === 'folder') this.folders.forget(organizationId);
    }
  }

  /** Inside `tx`: removes an entry for good (see EntryStore.purge), its objects handed to the deletion jobs; null when it was gone. */
  private async purge(
    tx: EntityManager,
    organizationId: string,
    rootId: string,
    id: string,
    trashedBy: Date | 'infinity' | null,
  ): Promise<DeletedCount | null> {
    const purged = await this.store.purge(tx, organizationId, rootId, id, trashedBy);
    if (purged.files + purged.folders === 0) return null;
    await this.deletions.schedule(tx, purged.objectKeys);
    return { deletedFiles: purged.files, deletedFolders: purged.folders };
  }

  /** One page of the organization's trash, newest first. */
  list(organizationId: string, query: PageQuery<TrashPosition>): Promise<Page<TrashedEntry>> {
    return this.store.listTrash(organizationId, query);
  }

  /**
   * Puts a trash item back where it was (its folder by path, recreated when missing) or into
   * folder `to` (created when missing). A name taken there meanwhile is NAME_CONFLICT, unless `to`
   * is given: then the item takes the first free "name (n)". The restored entry and its path.
   */
  async restoreEntry(organizationId: string, id: string, to: string | null | undefined): Promise<{ row: StorageEntry; path: string }> {
    const destination = to === null || to === undefined ? null : parsePath(to);
    if (!isUuid(id)) throw notInTrash();
    // Before the transaction: makeFolders below must not need a second pool connection.
    const root = await this.reads.root(organizationId);
    let wanted = '';
    try {
      return await retryOnDeadlock(() =>
        this.store.transaction(async (tx) => {
          const item = await this.store.lockTrashItem(tx, organizationId, id);
          if (!item) throw notInTrash();
          const folderSegments = destination ?? parsePath(item.trashedPath).slice(0, -1);
          wanted = joinPath([...folderSegments, item.name]);
          const folder = await this.store.makeFolders(tx, organizationId, root.id, folderSegments);
          const name = destination ? await this.freeName(tx, folder.id, item) : item.name;
          const path = joinPath([...folderSegments, name]);
          checkPathLength(path);
          const row = await this.store.untrash(tx, item.id, folder.id, name);
          if (!row) throw notInTrash();
          return { row, path };
        }),
      );
    } catch (error) {
      if (pgCode(error) === PgError.UNIQUE_VIOLATION) throw nameConflict(wanted);
      throw error;
    } finally {
      this.folders.forget(organizationId);
    }
  }

  /** The item's name if no live entry of the folder has it, else the first free numbered one. */
  private async freeName(tx: EntityManager, folderId: string, item: StorageEntry): Promise<string> {
    const candidates = [item.name];
    for (let n = 1; n <= MAX_NUMBERED_NAMES; n++) {
      const numbered = numberedName(item.name, item.kind, n);
      if (Buffer.byteLength(numbered) <= MAX_NAME_BYTES) candidates.push(numbered);
    }
    const taken = await this.store.takenNames(tx, folderId, candidates);
    const free = candidates.find((name) => !taken.has(name));
    if (!free) throw nameConflict(item.name);
    return free;
  }

  /** Removes everything in the organization's trash for good, in one transaction; what it held. */
  async emptyTrash(organizationId: string): Promise<DeletedCount> {
    const root = await this.reads.root(organizationId);
    try {
      return await this.store.transaction(async (tx) => {
        const total = { deletedFiles: 0, deletedFolders: 0 };
        for (;;) {
          const ids = await this.store.trashedBefore(tx, organizationId, 'infinity', BATCH);
          if (!ids.length) return total;
          for (const id of ids) {
            const purged = await this.purge(tx, organizationId, root.id, id, 'infinity');
            total.deletedFiles += purged?.deletedFiles ?? 0;
            total.deletedFolders += purged?.deletedFolders ?? 0;
          }
        }
      });
    } finally {
      this.folders.forget(organizationId);
    }
  }

  /**
   * The retention job's work: purges the items of every organization trashed more than
   * `retentionDays` ago, oldest first, one short transaction per item. How many items.
   */
  async expire(): Promise<number> {
    if (this.retentionDays <= 0) return 0;
    let expired = 0;
    for (let batch = 0; batch < MAX_EXPIRY_BATCHES; batch++) {
      const items = await this.store.expiredTrash(this.retentionDays, BATCH);
      for (const item of items) {
        const root = await this.reads.root(item.organizationId);
        // Only if it is still the item that expired (not restored and trashed again meanwhile).
        const purged = await this.store.transaction((tx) => this.purge(tx, item.organizationId, root.id, item.id, item.trashedAt));
        if (purged) expired++;
      }
      if (items.length < BATCH) break;
    }
    return expired;
  }
}
