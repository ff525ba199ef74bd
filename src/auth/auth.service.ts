import { DataSource } from 'typeorm';
import { parseApiKey, secretMatches } from './api-key';

export interface Principal {
  organizationId: string;
  organizationName: string;
  keyId: string;
}

export type AuthFailure = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'bearer';

const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/**
 * Resolves the raw `api-key` header to an organization. One indexed query per request; the
 * `last_used_at` write is throttled to once a minute per key, both in this process (no query at
 * all) and across processes (the UPDATE's WHERE clause).
 */
export class AuthService {
  private readonly lastUsedWrites = new Map<string, number>();

  constructor(private readonly db: DataSource) {}

  async authenticate(rawKey: string): Promise<Principal | AuthFailure> {
    const parsed = parseApiKey(rawKey);
    if (!parsed) return 'malformed';
    const rows: Array<{ key_id: string; secret_hash: Buffer; revoked_at: Date | null; org_id: string; org_name: string }> =
      await this.db.query(
        `SELECT k.id AS key_id, k.secret_hash, k.revoked_at, o.id AS org_id, o.name AS org_name
           FROM api_keys k JOIN organizations o ON o.id = k.organization_id
          WHERE k.lookup_id = $1`,
        [parsed.lookupId],
      );
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_hash)) return 'unknown';
    if (row.revoked_at) return 'revoked';
    this.touch(row.key_id);
    return { organizationId: row.org_id, organizationName: row.org_name, keyId: row.key_id };
  }

  private touch(keyId: string): void {
    const now = Date.now();
    const last = this.lastUsedWrites.get(keyId);
    if (last !== undefined && now - last < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWrites.set(keyId, now);
    this.db
      .query(
        `UPDATE api_keys SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
        [keyId],
      )
      .catch(() => this.lastUsedWrites.delete(keyId)); // best effort: retried on a later request
  }
}
