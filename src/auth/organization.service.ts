import { isUuid } from '../db/ids';
import { DataSource, EntityManager } from 'typeorm';
import { generateApiKey } from './api-key';
import { ApiKey } from './api-key.entity';
import { Organization } from './organization.entity';
import { AppError, ErrorCode, notFound } from '../graphql/errors';

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

/** Hands the object keys of deleted files to the deletion jobs, inside the deleting transaction (storage's ObjectDeletions). */
export interface ObjectDeletionScheduler {
  schedule(tx: EntityManager, objectKeys: string[]): Promise<void>;
}

export interface KeySummary {
  keyId: string;
  name: string | null;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}


function checkedName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 200) {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'organization name must be 1 to 200 characters');
  }
  return trimmed;
}

/** Organizations and their API keys: the admin side used by the CLI and by first start. */
export class OrganizationService {
  /** `keyRevoked` lets this process's key cache forget a key synchronously (see KeyCache). */
  constructor(private readonly db: DataSource, private readonly keyRevoked?: (lookupId: string) => void) {}

  async createOrganization(name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const trimmed = checkedName(name);
    return this.db.transaction((tx) => this.createOrganizationIn(tx, trimmed, keyName));
  }

  /** Creates the organization and its first key inside the caller's transaction. */
  async createOrganizationIn(tx: EntityManager, name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const org = await tx.getRepository(Organization).save(tx.getRepository(Organization).create({ name }));
    const key = await this.insertKey(tx.getRepository(ApiKey), org.id, keyName);
    return { orgId: org.id, ...key };
  }

  /** Every organization, oldest first. */
  async listOrganizations(): Promise<OrganizationSummary[]> {
    const orgs = await this.db.getRepository(Organization).find({ order: { createdAt: 'ASC', id: 'ASC' } });
    return orgs.map((o) => ({ orgId: o.id, name: o.name, createdAt: o.createdAt.toISOString() }));
  }

  /** Renames; every gateway's key cache forgets the old name (the organizations trigger notifies them). */
  async renameOrganization(orgId: string, name: string): Promise<{ orgId: string; name: string }> {
    const trimmed = checkedName(name);
    if (!isUuid(orgId)) throw notFound('organization');
    const [rows]: [Array<{ id: string; name: string }>] = await this.db.query(
      `UPDATE organizations SET name = $2 WHERE id = $1 RETURNING id, name`,
      [orgId, trimmed],
    );
    if (!rows.length) throw notFound('organization');
    return { orgId: rows[0].id, name: rows[0].name };
  }

  /** What `deleteOrganization` would remove. */
  async organizationContents(orgId: string, tx: EntityManager = this.db.manager): Promise<OrganizationContents> {
    if (!isUuid(orgId)) throw notFound('organization');
    const [row] = await tx.query(
      `SELECT o.id, o.name,
              (SELECT count(*) FROM api_keys WHERE organization_id = o.id)::int AS keys,
              (SELECT count(*) FROM workflows WHERE organization_id = o.id AND deleted_at IS NULL)::int AS workflows,
              (SELECT count(*) FROM workflow_runs WHERE organization_id = o.id)::int AS runs,
              (SELECT count(*) FROM teammates WHERE organization_id = o.id AND deleted_at IS NULL)::int AS teammates,
              (SELECT count(*) FROM storage_entries WHERE organization_id = o.id AND kind = 'file')::int AS files
         FROM organizations o WHERE o.id = $1`,
      [orgId],
    );
    if (!row) throw notFound('organization');
    return { orgId: row.id, name: row.name, keys: row.keys, workflows: row.workflows, runs: row.runs, teammates: row.teammates, files: row.files };
  }

  /**
   * Removes the organization and everything it has (keys, tree, workflows, runs, teammates) in one
   * transaction; its stored objects go to the deletion jobs sent in that same transaction, so
   * they are deleted if and only if the rows are. The row lock first: uploads, keys and
   * workflows being added for the organization wait for it (their foreign key checks), then fail.
   * Its keys stop working at once everywhere: the api_keys and organizations triggers notify
   * every gateway's key cache at the commit.
   */
  async deleteOrganization(orgId: string, objects: ObjectDeletionScheduler): Promise<OrganizationContents> {
    if (!isUuid(orgId)) throw notFound('organization');
    return this.db.transaction(async (tx) => {
      const [locked] = await tx.query(`SELECT id FROM organizations WHERE id = $1 FOR UPDATE`, [orgId]);
      if (!locked) throw notFound('organization');
      const contents = await this.organizationContents(orgId, tx);
      const [files]: [Array<{ object_key: string }>] = await tx.query(
        `DELETE FROM storage_entries WHERE organization_id = $1 RETURNING object_key`,
        [orgId],
      );
      await objects.schedule(tx, files.map((f) => f.object_key).filter((key): key is string => key !== null));
      // Runs before teammates (which they point at), teammates before workflows (which refuse to go while a teammate points at them).
      await tx.query(`DELETE FROM workflow_runs WHERE organization_id = $1`, [orgId]);
      await tx.query(`DELETE FROM teammates WHERE organization_id = $1`, [orgId]);
      // The rest cascades: keys, workflows and their versions, idempotency keys.
      await tx.query(`DELETE FROM organizations WHERE id = $1`, [orgId]);
      return contents;
    });
  }

  async createKey(orgId: string, name?: string): Promise<CreatedKey> {
    await this.requireOrganization(orgId);
    return this.insertKey(this.db.getRepository(ApiKey), orgId, name ?? null);
  }

  async listKeys(orgId: string): Promise<KeySummary[]> {
    await this.requireOrganization(orgId);
    const keys = await this.db.getRepository(ApiKey).find({ where: { organizationId: orgId }, order: { createdAt: 'ASC' } });
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
    type Revoked = { revoked_at: Date; lookup_id: string };
    const rows: Revoked[] = await this.db.query(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING revoked_at, lookup_id`,
      [keyId],
    );
    // TypeORM returns [rows, count] for UPDATE ... RETURNING on postgres.
    const first = Array.isArray(rows[0]) ? (rows[0] as unknown as Revoked[])[0] : rows[0];
    if (!first) throw notFound('API key');
    this.keyRevoked?.(first.lookup_id);
    return { keyId, revokedAt: first.revoked_at.toISOString() };
  }

  private async requireOrganization(orgId: string): Promise<void> {
    if (!isUuid(orgId) || !(await this.db.getRepository(Organization).exists({ where: { id: orgId } }))) {
      throw notFound('organization');
    }
  }

  private async insertKey(repo: ReturnType<DataSource['getRepository']>, orgId: string, name: string | null): Promise<CreatedKey> {
    const generated = generateApiKey();
    const saved = (await repo.save(
      repo.create({ organizationId: orgId, lookupId: generated.lookupId, secretHash: generated.secretHash, name }),
    )) as ApiKey;
    return { keyId: saved.id, apiKey: generated.raw };
  }
}
