import type { DataSource } from 'typeorm';
import { OrganizationService } from '../auth/organization.service';

/**
 * On an empty database, creates a first organization and returns its key (shown once). The
 * advisory lock makes two gateways starting at once on one database create one organization.
 */
export async function createFirstOrganization(db: DataSource): Promise<{ orgId: string; apiKey: string } | null> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('alloy:first-organization'))`);
    const [{ count }] = await tx.query(`SELECT count(*)::int AS count FROM organizations`);
    if (count > 0) return null;
    const created = await new OrganizationService(tx.connection).createOrganizationIn(tx, 'My organization');
    return { orgId: created.orgId, apiKey: created.apiKey };
  });
}
