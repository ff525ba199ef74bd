import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A signing secret per workflow for the `alloy-signature` header of its http steps (see
 * src/workflows/signing.ts). Existing workflows get one here (two random UUIDs' worth of
 * randomness, 244 bits, from PostgreSQL's strong random source); new ones get theirs from the
 * application. After `alloy workflow rotate-secret --keep-previous`, the old secret keeps signing
 * too until `previous_signing_secret_until`.
 */
export class WorkflowSigningSecrets1765100000001 implements MigrationInterface {
  name = 'WorkflowSigningSecrets1765100000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflows
        ADD COLUMN signing_secret text NOT NULL
          DEFAULT 'alloy_whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
        ADD COLUMN previous_signing_secret text,
        ADD COLUMN previous_signing_secret_until timestamptz,
        ADD CHECK ((previous_signing_secret IS NULL) = (previous_signing_secret_until IS NULL))`);
    await q.query(`ALTER TABLE workflows ALTER COLUMN signing_secret DROP DEFAULT`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflows
        DROP COLUMN previous_signing_secret_until,
        DROP COLUMN previous_signing_secret,
        DROP COLUMN signing_secret`);
  }
}
