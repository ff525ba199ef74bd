import { Client } from 'pg';
import type { Logger } from '../observability/logger';

/** The row authentication reads for a key (see AuthService). */
export interface KeyRow {
  key_id: string;
  secret_hash: Buffer;
  revoked_at: Date | null;
  org_id: string;
  org_name: string;
}

/** The channel the `api_keys` and `organizations` triggers notify (migration ApiKeyChangeNotify). */
export const KEY_CHANGES_CHANNEL = 'alloy_key_changes';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;
const RECONNECT_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
/** A silently dead connection delivers no notifications; a heartbeat notices within seconds. */
const HEARTBEAT_MS = 5_000;

/**
 * A short-lived, per-process cache of key rows, so that an authenticated request needs no
 * database round trip. Revocation still takes effect at once in the revoking process and within
 * the notification's delivery latency (milliseconds) everywhere else:
 * - a revoke in this process forgets the key synchronously (`forget`);
 * - a revoke, key deletion or organization rename anywhere else fires a Postgres trigger whose
 *   NOTIFY reaches every gateway's LISTEN connection right after the commit (asynchronously: a
 *   request racing it can still be served from the cache until it arrives);
 * - while that connection is down (or its heartbeat fails) the cache is empty and off, so every
 *   request reads the row;
 * - a lookup that was in flight when an invalidation arrived is not cached (generation check).
 */
export class KeyCache {
  private readonly entries = new Map<string, { row: KeyRow; expiresAt: number }>();
  private generation = 0;
  private listening = false;
  private client: Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly databaseUrl: string, private readonly logger?: Logger) {}

  /** Connects the LISTEN connection; caching is on once it is listening. Never throws. */
  async start(): Promise<void> {
    const client = new Client({
      connectionString: this.databaseUrl,
      application_name: 'alloy-key-cache',
      keepAlive: true,
      query_timeout: HEARTBEAT_MS,
    });
    this.client = client;
    client.on('notification', (message) => this.invalidate(message.payload));
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.disable();
      clearInterval(this.heartbeat);
      client.end().catch(() => undefined);
      if (this.stopped) return;
      if (this.failures++ === 0) {
        this.logger?.warn({ err: error }, 'key cache: LISTEN connection lost; authenticating from the database until it is back');
      }
      this.retry = setTimeout(() => void this.start(), Math.min(RECONNECT_MS * 2 ** (this.failures - 1), RECONNECT_MAX_MS));
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${KEY_CHANGES_CHANNEL}`);
      if (this.client === client && !this.stopped) {
        this.listening = true;
        this.failures = 0;
        this.heartbeat = setInterval(() => client.query('SELECT 1').catch((error: Error) => lost(error)), HEARTBEAT_MS);
        this.heartbeat.unref();
      }
    } catch (error) {
      lost(error as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    this.disable();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
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
