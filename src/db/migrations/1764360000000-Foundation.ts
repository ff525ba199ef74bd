import { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1764360000000 implements MigrationInterface {
  name = 'Foundation1764360000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE organizations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        lookup_id text NOT NULL,
        secret_hash bytea NOT NULL,
        name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX api_keys_lookup_id ON api_keys (lookup_id)`);
    await q.query(`CREATE INDEX api_keys_organization_id ON api_keys (organization_id)`);
    await q.query(`CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE settings`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE organizations`);
  }
}
