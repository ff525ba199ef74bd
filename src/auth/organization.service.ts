import type { DataSource, EntityManager } from 'typeorm';
import { pick, selectList } from '../db/columns';
import { isUuid } from '../db/ids';
import { statement, StatementRunner } from '../db/statements';
import { generateApiKey } from './api-key';
import { API_KEY_COLUMNS, ApiKeyRow } from './api-key.row';
import { AppError, ErrorCode, notFound } from '../graphql/errors';
import { ORGANIZATION_COLUMNS } from './organization.row';

export interface CreatedKey {
  keyId: string;
  apiKey: string;
}

export interface OrganizationSummary {
  orgId: string;
  name: string;
  createdAt: string;
}

/** What deleting an organization removes, counted (told before `alloy org delete --yes`, and after it). */
export interface OrganizationContents {
  orgId: string;
  name: string;
  keys: number;
  workflows: number;
  runs: number;
  teammates: number;
  files: number;
}

/**
 * Removes one capability's rows of an organization inside the deleting transaction (and hands what
 * they held elsewhere, such as stored objects, to its jobs in that same transaction). Each table's
 * owner module gives its own; the composition root lists them in the order their references need.
 */
export type OrganizationPurge = (tx: EntityManager, organizationId: string) => Promise<void>;

export interface KeySummary {
  keyId: string;
  name: string | null;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** An organization as the admin commands name it: its id as `orgId` (OrganizationSummary, OrganizationContents), and its name. */
const SUMMARY_COLUMNS = (from?: string) =>
  `${selectList(pick(ORGANIZATION_COLUMNS, 'id'), { from, prefix: 'org' })}, ${selectList(pick(ORGANIZATION_COLUMNS, 'name'), { from })}`;

/** What `alloy key list` shows of a key (never its secret's hash). */
const LISTED_KEY_COLUMNS = pick(API_KEY_COLUMNS, 'id', 'name', 'lookupId', 'createdAt', 'lastUsedAt', 'revokedAt');

const SQL = {
  addOrganization: statement('auth.add-organization', `INSERT INTO organizations (name) VALUES ($1) RETURNING id`),
  /** The key of organization $1, or no row when there is no such organization. */
  addKey: statement(
    'auth.add-key',
    `INSERT INTO api_keys (organization_id, lookup_id, secret_hash, name)
     SELECT id, $2::text, $3::bytea, $4::text FROM organizations WHERE id = $1 RETURNING id`,
  ),
  organizations: statement(
    'auth.organizations',
    `SELECT ${SUMMARY_COLUMNS()}, ${selectList(pick(ORGANIZATION_COLUMNS, 'createdAt'))} FROM organizations ORDER BY created_at, id`,
  ),
  organizationExists: statement('auth.organization-exists', `SELECT 1 FROM organizations WHERE id = $1`),
  /** One gateway at a time decides whether the database has no organization yet. */
  lockFirstOrganization: statement('auth.lock-first-organization', `SELECT pg_advisory_xact_lock(hashtext('alloy:first-organization'))`),
  anyOrganization: statement('auth.any-organization', `SELECT 1 FROM organizations LIMIT 1`),
  oldestOrganization: statement(
    'auth.oldest-organization',
    `SELECT ${SUMMARY_COLUMNS()}, (SELECT count(*) FROM organizations)::int AS total FROM organizations ORDER BY created_at, id LIMIT 1`,
  ),
  rename: statement('auth.rename-organization', `UPDATE organizations SET name = $2 WHERE id = $1 RETURNING ${SUMMARY_COLUMNS()}`),
  contents: statement(
    'auth.organization-contents',
    `SELECT ${SUMMARY_COLUMNS('o')},
            (SELECT count(*) FROM api_keys WHERE organization_id = o.id)::int AS keys,
            (SELECT count(*) FROM workflows WHERE organization_id = o.id AND deleted_at IS NULL)::int AS workflows,
            (SELECT count(*) FROM workflow_runs WHERE organization_id = o.id)::int AS runs,
            (SELECT count(*) FROM teammates WHERE organization_id = o.id AND deleted_at IS NULL)::int AS teammates,
            (SELECT count(*) FROM storage_entries WHERE organization_id = o.id AND kind = 'file')::int AS files
       FROM organizations o WHERE o.id = $1`,
  ),
  lockOrganization: statement('auth.lock-organization', `SELECT id FROM organizations WHERE id = $1 FOR UPDATE`),
  deleteOrganization: statement('auth.delete-organization', `DELETE FROM organizations WHERE id = $1`),
  keys: statement('auth.keys', `SELECT ${selectList(LISTED_KEY_COLUMNS)} FROM api_keys WHERE organization_id = $1 ORDER BY created_at`),
  revokeKey: statement(
    'auth.revoke-key',
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
     RETURNING ${selectList(pick(API_KEY_COLUMNS, 'revokedAt', 'lookupId'))}`,
  ),
};

function checkedName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 200) {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'organization name must be 1 to 200 characters');
  }
  return trimmed;
}

/** Organizations and their API keys: the admin side used by the CLI and by first start. */
export class OrganizationService {
  private readonly sql: StatementRunner;

  /**
   * `keyRevoked` lets this process's key cache forget a key synchronously (see KeyCache); `purges`
   * remove the other capabilities' rows of a deleted organization, in order (see OrganizationPurge).
   */
  constructor(
    db: DataSource,
    private readonly keyRevoked?: (lookupId: string) => void,
    private readonly purges: readonly OrganizationPurge[] = [],
  ) {
    this.sql = new StatementRunner(db);
  }

  async createOrganization(name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const trimmed = checkedName(name);
    return this.sql.transaction((tx) => this.createOrganizationIn(tx, trimmed, keyName));
  }

  /**
   * On an empty database, creates a first organization and returns its key (shown once). The
   * advisory lock makes two gateways starting at once on one database create one organization.
   */
  async createFirstOrganization(name: string): Promise<({ orgId: string } & CreatedKey) | null> {
    return this.sql.transaction(async (tx) => {
      await this.sql.run(SQL.lockFirstOrganization, [], tx);
      if (await this.sql.first(SQL.anyOrganization, [], tx)) return null;
      return this.createOrganizationIn(tx, name);
    });
  }

  /** The oldest organization and how many there are: what a later start reminds the operator of. */
  async oldestOrganization(): Promise<{ orgId: string; name: string; total: number } | null> {
    return this.sql.first<{ orgId: string; name: string; total: number }>(SQL.oldestOrganization, []);
  }

  /** Creates the organization and its first key inside the caller's transaction. */
  private async createOrganizationIn(tx: EntityManager, name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const org = (await this.sql.first<{ id: string }>(SQL.addOrganization, [name], tx))!;
    const key = await this.addKey(org.id, keyName, tx);
    return { orgId: org.id, ...key! };
  }

  /** Every organization, oldest first. */
  async listOrganizations(): Promise<OrganizationSummary[]> {
    const rows = await this.sql.rows<{ orgId: string; name: string; createdAt: Date }>(SQL.organizations, []);
    return rows.map((o) => ({ orgId: o.orgId, name: o.name, createdAt: o.createdAt.toISOString() }));
  }

  /** Whether the organization exists (any string may be asked about). */
  async exists(orgId: string): Promise<boolean> {
    return isUuid(orgId) && (await this.sql.first(SQL.organizationExists, [orgId])) !== null;
  }

  /** Renames; every gateway's key cache forgets the old name (the organizations trigger notifies them). */
  async renameOrganization(orgId: string, name: string): Promise<{ orgId: string; name: string }> {
    const trimmed = checkedName(name);
    if (!isUuid(orgId)) throw notFound('organization');
    const renamed = await this.sql.first<{ orgId: string; name: string }>(SQL.rename, [orgId, trimmed]);
    if (!renamed) throw notFound('organization');
    return renamed;
  }

  /** What `deleteOrganization` would remove. */
  async organizationContents(orgId: string, tx?: EntityManager): Promise<OrganizationContents> {
    if (!isUuid(orgId)) throw notFound('organization');
    const contents = await this.sql.first<OrganizationContents>(SQL.contents, [orgId], tx);
    if (!contents) throw notFound('organization');
    return contents;
  }

  /**
   * Removes the organization and everything it has (keys, tree, workflows, runs, teammates) in one
   * transaction: each capability's purge removes its rows, storage's sending the stored objects to
   * the deletion jobs in that same transaction, so they are deleted if and only if the rows are. The row lock first: uploads, keys and
   * workflows being added for the organization wait for it (their foreign key checks), then fail.
   * Its keys stop working at once everywhere: the api_keys and organizations triggers notify
   * every gateway's key cache at the commit.
   */
  async deleteOrganization(orgId: string): Promise<OrganizationContents> {
    if (!isUuid(orgId)) throw notFound('organization');
    return this.sql.transaction(async (tx) => {
      if (!(await this.sql.first(SQL.lockOrganization, [orgId], tx))) throw notFound('organization');
      const contents = await this.organizationContents(orgId, tx);
      for (const purge of this.purges) await purge(tx, orgId);
      // The rest cascades: keys, workflows and their versions, idempotency keys.
      await this.sql.run(SQL.deleteOrganization, [orgId], tx);
      return contents;
    });
  }

  async createKey(orgId: string, name?: string): Promise<CreatedKey> {
    const key = isUuid(orgId) ? await this.addKey(orgId, name ?? null) : null;
    if (!key) throw notFound('organization');
    return key;
  }

  async listKeys(orgId: string): Promise<KeySummary[]> {
    if (!(await this.exists(orgId))) throw notFound('organization');
    const keys = await this.sql.rows<Pick<ApiKeyRow, keyof typeof LISTED_KEY_COLUMNS>>(SQL.keys, [orgId]);
    return keys.map((k) => ({
      keyId: k.id,
      name: k.name,
      prefix: `alloy_sk_${k.lookupId}_…`,
      createdAt: k.createdAt.toISOString(),
      lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
      revokedAt: k.revokedAt?.toISOString() ?? null,
    }));
  }

  /**
   * Revokes at once: this process forgets the key synchronously, and the `api_keys` trigger
   * notifies every other gateway process after the commit (see KeyCache).
   */
  async revokeKey(keyId: string): Promise<{ keyId: string; revokedAt: string }> {
    if (!isUuid(keyId)) throw notFound('API key');
    const revoked = await this.sql.first<{ revokedAt: Date; lookupId: string }>(SQL.revokeKey, [keyId]);
    if (!revoked) throw notFound('API key');
    this.keyRevoked?.(revoked.lookupId);
    return { keyId, revokedAt: revoked.revokedAt.toISOString() };
  }

  /** A new key of the organization; null when there is no such organization. */
  private async addKey(orgId: string, name: string | null, tx?: EntityManager): Promise<CreatedKey | null> {
    const generated = generateApiKey();
    const added = await this.sql.first<{ id: string }>(SQL.addKey, [orgId, generated.lookupId, generated.secretHash, name], tx);
    return added && { keyId: added.id, apiKey: generated.raw };
  }
}
