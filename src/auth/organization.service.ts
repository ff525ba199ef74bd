import { DataSource, EntityManager } from 'typeorm';
import { generateApiKey } from './api-key';
import { ApiKey } from './api-key.entity';
import { Organization } from './organization.entity';
import { AppError, ErrorCode, notFound } from '../graphql/errors';

export interface CreatedKey {
  keyId: string;
  apiKey: string;
}

export interface KeySummary {
  keyId: string;
  name: string | null;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

/** Organizations and their API keys: the admin side used by the CLI and by first start. */
export class OrganizationService {
  /** `keyRevoked` lets this process's key cache forget a key synchronously (see KeyCache). */
  constructor(private readonly db: DataSource, private readonly keyRevoked?: (lookupId: string) => void) {}

  async createOrganization(name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const trimmed = name.trim();
    if (trimmed.length < 1 || trimmed.length > 200) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, 'organization name must be 1 to 200 characters');
    }
    return this.db.transaction((tx) => this.createOrganizationIn(tx, trimmed, keyName));
  }

  /** Creates the organization and its first key inside the caller's transaction. */
  async createOrganizationIn(tx: EntityManager, name: string, keyName = 'default'): Promise<{ orgId: string } & CreatedKey> {
    const org = await tx.getRepository(Organization).save(tx.getRepository(Organization).create({ name }));
    const key = await this.insertKey(tx.getRepository(ApiKey), org.id, keyName);
    return { orgId: org.id, ...key };
  }

  async countOrganizations(): Promise<number> {
    return this.db.getRepository(Organization).count();
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
