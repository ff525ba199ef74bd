import type { NotificationListener } from '../db/notification-listener';
import type { StorageEntry } from './storage-entry';

/** The channel the `storage_entries` triggers notify (migration StorageTreeNotify): an organization id, or '*'. */
export const STORAGE_TREE_CHANNEL = 'alloy_storage_tree';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;

/**
 * Folder rows by absolute path, per process, so that reading a folder by its path needs no
 * database round trip. A folder row changes only when it is renamed, moved or deleted, and each
 * of those (a change on a folder above it too) makes the cached paths of its organization untrue:
 * - such a change in this process forgets the organization's paths synchronously (`forget`),
 *   before the mutation answers;
 * - one anywhere else fires a Postgres trigger whose NOTIFY reaches every process's LISTEN
 *   connection right after the commit, and the organization's paths are forgotten then;
 * - while that connection is down (or its heartbeat fails) the cache is empty and off;
 * - a lookup that was in flight when an invalidation arrived is not cached (generation check).
 * Only reads use it: mutations resolve their paths in the statements that change the tree.
 */
export class FolderCache {
  private readonly organizations = new Map<string, Map<string, { row: StorageEntry; expiresAt: number }>>();
  private size = 0;
  private generation = 0;
  private listening = false;
  private subscription: { close(): void } | undefined;

  /** Subscribes to tree changes; caching is on while the listener is listening. */
  async start(listener: NotificationListener): Promise<void> {
    const subscription = listener.subscribe(STORAGE_TREE_CHANNEL, {
      onMessage: (payload) => (payload === '*' ? this.disable(listener.isListening) : this.forget(payload)),
      onConnectionChange: (listening) => this.disable(listening),
    });
    this.subscription = subscription;
    if (await subscription.ready) this.listening = listener.isListening;
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.disable(false);
  }

  get(organizationId: string, path: string): StorageEntry | undefined {
    if (!this.listening) return undefined;
    const paths = this.organizations.get(organizationId);
    const entry = paths?.get(path);
    if (!entry) return undefined;
    if (entry.expiresAt < Date.now()) {
      paths!.delete(path);
      this.size--;
      return undefined;
    }
    return entry.row;
  }

  /** A token to pass to `set`: a lookup started before an invalidation must not be cached. */
  ticket(): number {
    return this.generation;
  }

  set(organizationId: string, path: string, row: StorageEntry, ticket: number): void {
    if (!this.listening || ticket !== this.generation) return;
    if (this.size >= MAX_ENTRIES) this.evictOldestOrganization();
    let paths = this.organizations.get(organizationId);
    if (!paths) this.organizations.set(organizationId, (paths = new Map()));
    if (!paths.has(path)) this.size++;
    paths.set(path, { row, expiresAt: Date.now() + TTL_MS });
  }

  /** Forgets every path of the organization (a folder of it was renamed, moved or deleted). */
  forget(organizationId: string): void {
    this.generation++;
    this.size -= this.organizations.get(organizationId)?.size ?? 0;
    this.organizations.delete(organizationId);
  }

  private evictOldestOrganization(): void {
    const oldest = this.organizations.keys().next().value;
    if (oldest !== undefined) this.forget(oldest);
  }

  /** Empties the cache, and caches from now on only when `listening`. */
  private disable(listening: boolean): void {
    this.listening = listening;
    this.generation++;
    this.organizations.clear();
    this.size = 0;
  }
}
