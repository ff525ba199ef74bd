import type { Columns } from '../db/columns';

/** A row of `api_keys` as statements read it (API_KEY_COLUMNS); see api-key.ts for the key's format. */
export interface ApiKeyRow {
  id: string;
  organizationId: string;
  /** The key's `<lookup>` part, which finds its row. */
  lookupId: string;
  /** SHA-256 of the key's secret part: the key itself is never stored. */
  secretHash: Buffer;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** The one list of the columns of `api_keys` that are read, each as the field it is read into. */
export const API_KEY_COLUMNS: Columns<ApiKeyRow> = {
  id: 'id',
  organizationId: 'organization_id',
  lookupId: 'lookup_id',
  secretHash: 'secret_hash',
  name: 'name',
  createdAt: 'created_at',
  lastUsedAt: 'last_used_at',
  revokedAt: 'revoked_at',
};
