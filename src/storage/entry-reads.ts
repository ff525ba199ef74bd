import { isUuid } from '../db/ids';
import type { Page } from '../db/page';
import type { ChildrenQuery, EntryStore } from './entry-store';
import type { FolderCache } from './folder-cache';
import { joinPath, parsePath } from './names';
import type { StorageEntry } from './storage-entry';

/** Reading the tree: entries by path or id, their paths, and folder listings. */
export class EntryReads {
  /** Root folders never change (they go only with their organization), so they are kept for good. */
  private readonly roots = new Map<string, StorageEntry>();

  constructor(
    private readonly store: EntryStore,
    private readonly folders: FolderCache,
  ) {}

  /** The organization's root folder, created on first use. */
  async root(organizationId: string): Promise<StorageEntry> {
    let root = this.roots.get(organizationId);
    if (!root) {
      root = await this.store.ensureRoot(organizationId);
      this.roots.set(organizationId, root);
    }
    return root;
  }

  /**
   * The entry at `path`, or null. Folders on the way come from the folder cache when it has
   * them: a cached folder costs no statement, a file in one costs one, and anything else one walk
   * from the root, which caches every folder it passes.
   */
  async findByPath(organizationId: string, path: string): Promise<StorageEntry | null> {
    const segments = parsePath(path);
    if (segments.length === 0) return this.root(organizationId);
    const normalized = joinPath(segments);
    const cached = this.folders.get(organizationId, normalized);
    if (cached) return cached;
    const ticket = this.folders.ticket();
    const parent =
      segments.length === 1 ? await this.root(organizationId) : this.folders.get(organizationId, joinPath(segments.slice(0, -1)));
    if (parent) {
      const entry = await this.store.child(parent.id, segments[segments.length - 1]);
      if (entry?.kind === 'folder') this.folders.set(organizationId, normalized, entry, ticket);
      return entry;
    }
    const levels = await this.store.walk(organizationId, segments);
    for (let depth = 1; depth < levels.length; depth++) {
      if (levels[depth].kind === 'folder') this.folders.set(organizationId, joinPath(segments.slice(0, depth)), levels[depth], ticket);
    }
    return levels.length === segments.length + 1 ? levels[segments.length] : null;
  }

  /** Entries of these ids that belong to the organization (others are silently absent), with their paths. */
  findByIds(organizationId: string, ids: readonly string[]): Promise<Array<StorageEntry & { path: string }>> {
    const valid = ids.filter(isUuid);
    return valid.length ? this.store.byIdsWithPaths(organizationId, valid) : Promise.resolve([]);
  }

  /** The organization's entry of this id, or null. */
  findById(organizationId: string, id: string): Promise<StorageEntry | null> {
    return isUuid(id) ? this.store.byId(organizationId, id) : Promise.resolve(null);
  }

  /** Any organization's file; only for requests that proved access another way (a signed URL for this id). */
  findFileById(id: string): Promise<StorageEntry | null> {
    return isUuid(id) ? this.store.fileById(id) : Promise.resolve(null);
  }

  /**
   * One page of a folder's children: folders first, then by name (bytewise), after `after`;
   * counted only when `count` (counting a big folder costs more than its page).
   */
  listChildren(folder: { id: string; organizationId: string }, query: ChildrenQuery): Promise<Page<StorageEntry>> {
    return this.store.listChildren(folder, query);
  }
}
