import { PgError, pgCode, retryOnDeadlock } from '../db/postgres-errors';
import { AppError, ErrorCode } from '../graphql/errors';
import type { EntryReads } from './entry-reads';
import { EntryStore } from './entry-store';
import type { FolderCache } from './folder-cache';
import { checkPathLength, joinPath, normalizeName, parsePath } from './names';
import type { StorageEntry } from './storage-entry';

const nameConflict = (path: string) => new AppError(ErrorCode.NAME_CONFLICT, `An entry named ${JSON.stringify(path)} already exists`);
const notFound = (path: string) => new AppError(ErrorCode.NOT_FOUND, `Nothing at ${JSON.stringify(path)}`);
const rootRefused = (verb: string) => new AppError(ErrorCode.INVALID_PATH, `The root folder "/" cannot be ${verb}`);

/**
 * Creating folders, renaming and moving entries (deleting is the trash's: trash.ts). Renames and
 * moves change one row whatever the entry holds, and no object. Paths are found
 * from the database, never from the folder cache, whose paths this process forgets as soon as
 * a change here commits.
 */
export class TreeChanges {
  constructor(
    private readonly store: EntryStore,
    private readonly reads: EntryReads,
    private readonly folders: FolderCache,
  ) {}

  private async find(organizationId: string, segments: string[]): Promise<StorageEntry | null> {
    const levels = await this.store.walk(organizationId, segments);
    return levels.length === segments.length + 1 ? levels[segments.length] : null;
  }

  /** `mkdir -p`; an existing folder is returned as is. */
  async createFolder(organizationId: string, path: string): Promise<StorageEntry> {
    const segments = parsePath(path);
    const root = await this.reads.root(organizationId);
    return retryOnDeadlock(() => this.store.transaction((tx) => this.store.makeFolders(tx, organizationId, root.id, segments)));
  }

  async renameEntry(organizationId: string, path: string, newName: string): Promise<StorageEntry> {
    const name = normalizeName(newName);
    const segments = parsePath(path);
    const entry = await this.find(organizationId, segments);
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw rootRefused('renamed');
    const target = joinPath([...segments.slice(0, -1), name]);
    checkPathLength(target);
    if (name === entry.name) return entry;
    try {
      const renamed = await this.store.rename(organizationId, entry.id, name);
      if (!renamed) throw notFound(path);
      return renamed;
    } catch (error) {
      if (pgCode(error) === PgError.UNIQUE_VIOLATION) throw nameConflict(target);
      throw error;
    } finally {
      if (entry.kind === 'folder') this.folders.forget(organizationId);
    }
  }

  async moveEntry(organizationId: string, path: string, to: string): Promise<StorageEntry> {
    const destinationSegments = parsePath(to);
    const entry = await this.find(organizationId, parsePath(path));
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw rootRefused('moved');
    const destination = await this.find(organizationId, destinationSegments);
    if (!destination) throw new AppError(ErrorCode.NOT_FOUND, `Destination folder ${JSON.stringify(to)} does not exist`);
    if (destination.kind !== 'folder')
      throw new AppError(ErrorCode.INVALID_MOVE, `Destination ${JSON.stringify(to)} is a file, not a folder`);
    const target = joinPath([...destinationSegments, entry.name]);
    checkPathLength(target);
    if (destination.id === entry.parentId) return entry;
    try {
      return await this.store.transaction(async (tx) => {
        // Two concurrent folder moves could otherwise each pass the cycle check and build a loop.
        await this.store.lockMoves(tx, organizationId);
        if (entry.kind === 'folder' && (await this.store.isWithin(tx, destination.id, entry.id))) {
          throw new AppError(ErrorCode.INVALID_MOVE, `Cannot move ${JSON.stringify(path)} into itself or one of its descendants`);
        }
        const moved = await this.store.move(tx, organizationId, entry.id, destination.id);
        if (!moved) throw notFound(path);
        return moved;
      });
    } catch (error) {
      if (pgCode(error) === PgError.UNIQUE_VIOLATION) throw nameConflict(target);
      if (pgCode(error) === PgError.FOREIGN_KEY_VIOLATION)
        throw new AppError(ErrorCode.NOT_FOUND, `Destination folder ${JSON.stringify(to)} does not exist`);
      throw error;
    } finally {
      if (entry.kind === 'folder') this.folders.forget(organizationId);
    }
  }
}
