import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gateways cache API key rows for a few seconds (src/auth/key-cache.ts). These triggers tell
 * every gateway, right after the commit, when a cached row stops being true: a key revoked or
 * deleted (also by an organization's cascade) or an organization renamed; not the once-a-minute
 * \`last_used_at\` write. Triggers rather than
 * application code, so that a revoke by hand in psql is honoured too.
 */
export class KeyChangeNotify1764370200000 implements MigrationInterface {
  name = 'KeyChangeNotify1764370200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION alloy_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_TABLE_NAME = 'api_keys' THEN
          PERFORM pg_notify('alloy_key_changes', 'key:' || OLD.lookup_id);
        ELSE
          PERFORM pg_notify('alloy_key_changes', 'org:' || OLD.id);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER api_keys_notify_change
        AFTER UPDATE OF revoked_at, secret_hash, lookup_id, organization_id OR DELETE ON api_keys FOR EACH ROW
        EXECUTE FUNCTION alloy_notify_key_change()`);
    await q.query(`
      CREATE TRIGGER organizations_notify_change
        AFTER UPDATE OF name OR DELETE ON organizations FOR EACH ROW
        EXECUTE FUNCTION alloy_notify_key_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER organizations_notify_change ON organizations`);
    await q.query(`DROP TRIGGER api_keys_notify_change ON api_keys`);
    await q.query(`DROP FUNCTION alloy_notify_key_change()`);
  }
}
