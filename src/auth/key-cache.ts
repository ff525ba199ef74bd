import type { NotificationListener } from '../db/notification-listener';
import type { ApiKeyRow } from './api-key.row';
import type { OrganizationRow } from './organization.row';

/** What authentication reads for a key (see AuthService): the key's row, and the id and name of its organization. */
export type KeyRow = Pick<ApiKeyRow, 'id' | 'secretHash' | 'revokedAt'> & {
  organizationId: OrganizationRow['id'];
  organizationName: OrganizationRow['name'];
};

/** The channel the `api_keys` and `organizations` triggers notify (migration ApiKeyChangeNotify). */
export const KEY_CHANGES_CHANNEL = 'alloy_key_changes';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;

/**
 * A short-lived, per-process cache of key rows, so that an authenticated request needs no
 * database round trip. Revocation still takes effect at once in the revoking process and within
 * the notification's delivery latency (milliseconds) everywhere else:
 * - a revoke in this process forgets the key synchronously (`forget`);
 * - a revoke, key deletion or organization rename anywhere else fires a Postgres trigger whose
 *   NOTIFY reaches every process's LISTEN connection right after the commit (asynchronously: a
 *   request racing it can still be served from the cache until it arrives);
 * - while that connection is down (or its heartbeat fails) the cache is empty and off, so every
 *   request reads the row;
 * - a lookup that was in flight when an invalidation arrived is not cached (generation check).
 */
export class KeyCache {
  private readonly entries = new Map<string, { row: KeyRow; expiresAt: number }>();
  private generation = 0;
  private listening = false;
  private subscription: { close(): void } | undefined;

  /** Subscribes to key changes; caching is on while the listener is listening. */
  async start(listener: NotificationListener): Promise<void> {
    const subscription = listener.subscribe(KEY_CHANGES_CHANNEL, {
      onMessage: (payload) => this.invalidate(payload),
      onConnectionChange: (listening) => (listening ? (this.listening = true) : this.disable()),
    });
    this.subscription = subscription;
    if (await subscription.ready) this.listening = listener.isListening;
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.disable();
  }

  get(lookupId: string): KeyRow | undefined {
    if (!this.listening) return undefined;
    const entry = this.entries.get(lookupId);
    if (!entry) return undefined;
    if (entry.expiresAt < Date.now()) {
      this.entries.delete(lookupId);
      return undefined;
    }
    return entry.row;
  }

  /** A token to pass to `set`: a lookup started before an invalidation must not be cached. */
  ticket(): number {
    return this.generation;
  }

  set(lookupId: string, row: KeyRow, ticket: number): void {
    if (!this.listening || ticket !== this.generation) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(lookupId, { row, expiresAt: Date.now() + TTL_MS });
  }

  /** Forgets one key (payload `key:<lookupId>`) or everything (any other payload). */
  invalidate(payload: string | undefined): void {
    this.generation++;
    if (payload?.startsWith('key:')) this.entries.delete(payload.slice(4));
    else this.entries.clear();
  }

  private disable(): void {
    this.listening = false;
    this.generation++;
    this.entries.clear();
  }
}
