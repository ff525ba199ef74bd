import type { Principal } from '../graphql/context';
import type { DataSource } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { statement, StatementRunner } from '../db/statements';
import { parseApiKey, secretMatches } from './api-key';
import { API_KEY_COLUMNS } from './api-key.row';
import { KeyCache, KeyRow } from './key-cache';
import { ORGANIZATION_COLUMNS } from './organization.row';

/** Who a request is from: defined with the request context (src/graphql/context.ts), made here. */
export type { Principal };

export type AuthFailure = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'bearer';

const LAST_USED_WRITE_INTERVAL_MS = 60_000;

const SQL = {
  keyByLookupId: statement(
    'auth.key-by-lookup-id',
    `SELECT ${selectList(pick(API_KEY_COLUMNS, 'id', 'secretHash', 'revokedAt'), { from: 'k' })},
            ${selectList(pick(ORGANIZATION_COLUMNS, 'id', 'name'), { from: 'o', prefix: 'organization' })}
       FROM api_keys k JOIN organizations o ON o.id = k.organization_id
      WHERE k.lookup_id = $1`,
  ),
  touchKey: statement(
    'auth.touch-key',
    `UPDATE api_keys SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
  ),
};

/**
 * Resolves the raw `api-key` header to an organization. One indexed query per request, or none
 * when the gateway has enabled the key cache (see KeyCache for how revocation stays immediate);
 * the secret is compared on every request either way. The `last_used_at` write is throttled to
 * once a minute per key, both in this process (no query at all) and across processes (the
 * UPDATE's WHERE clause).
 */
export class AuthService {
  private readonly lastUsedWrites = new Map<string, number>();
  private readonly sql: StatementRunner;

  /**
   * `cache` is the process's key cache (the composition root starts and stops it with the LISTEN
   * connection); it serves nothing while stopped, so every request then reads the row.
   */
  constructor(
    db: DataSource,
    private readonly cache?: KeyCache,
  ) {
    this.sql = new StatementRunner(db);
  }

  /** Drops a key from this process's cache (called when this process revokes it). */
  forget(lookupId: string): void {
    this.cache?.invalidate(`key:${lookupId}`);
  }

  async authenticate(rawKey: string): Promise<Principal | AuthFailure> {
    const parsed = parseApiKey(rawKey);
    if (!parsed) return 'malformed';
    const row = this.cache?.get(parsed.lookupId) ?? (await this.lookup(parsed.lookupId));
    if (!row || !secretMatches(parsed.secret, row.secretHash)) return 'unknown';
    if (row.revokedAt) return 'revoked';
    this.touch(row.id);
    return { organizationId: row.organizationId, organizationName: row.organizationName, keyId: row.id };
  }

  private async lookup(lookupId: string): Promise<KeyRow | undefined> {
    const ticket = this.cache?.ticket();
    const row = await this.sql.first<KeyRow>(SQL.keyByLookupId, [lookupId]);
    // Unknown keys are not cached: a key created a moment later must work at once.
    if (row && ticket !== undefined) this.cache?.set(lookupId, row, ticket);
    return row ?? undefined;
  }

  private touch(keyId: string): void {
    const now = Date.now();
    const last = this.lastUsedWrites.get(keyId);
    if (last !== undefined && now - last < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWrites.set(keyId, now);
    this.sql.run(SQL.touchKey, [keyId]).catch(() => this.lastUsedWrites.delete(keyId)); // best effort: retried on a later request
  }
}
