import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workflows can be updated and deleted, teammates deleted (`alloy workflow update|delete`,
 * `alloy teammate delete`).
 *
 * - A run finishes with the definition it started with: every definition a workflow had is kept
 *   in `workflow_versions`, `workflows.version` is the current one (its definition is also
 *   mirrored in `workflows` for readers), and a run records in `workflow_version` which one it
 *   started with. The executor reads the definition of (workflow_id, workflow_version). Existing
 *   workflows become version 1, and so do their runs.
 * - Deleting is soft (`deleted_at`): runs and request logs keep pointing at rows that still exist.
 * - `workflows.created_at` keeps milliseconds only, as the other listed tables do, so that the
 *   (createdAt, id) keyset cursors of `workflows(first, after)` round-trip through JavaScript dates.
 */
export class ManageWorkflowsAndTeammates1765200000000 implements MigrationInterface {
  name = 'ManageWorkflowsAndTeammates1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflows ALTER COLUMN created_at TYPE timestamptz(3)`);
    await q.query(`
      CREATE TABLE workflow_versions (
        workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        version int NOT NULL CHECK (version >= 1),
        definition json NOT NULL,
        start_step text,
        startable boolean NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (workflow_id, version),
        CHECK (startable = (start_step IS NOT NULL))
      )`);
    await q.query(`
      INSERT INTO workflow_versions (workflow_id, version, definition, start_step, startable, created_at)
      SELECT id, 1, definition, start_step, startable, created_at FROM workflows`);
    await q.query(`
      ALTER TABLE workflows
        ADD COLUMN version int NOT NULL DEFAULT 1 CHECK (version >= 1),
        ADD COLUMN updated_at timestamptz(3),
        ADD COLUMN deleted_at timestamptz(3)`);
    await q.query(`UPDATE workflows SET updated_at = created_at`);
    await q.query(`ALTER TABLE workflows ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now()`);

    // No default once the existing runs have theirs: whoever starts a run says which version it runs.
    await q.query(`ALTER TABLE workflow_runs ADD COLUMN workflow_version int NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE workflow_runs ALTER COLUMN workflow_version DROP DEFAULT`);
    await q.query(`
      ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_workflow_version
        FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version) ON DELETE CASCADE`);

    await q.query(`ALTER TABLE teammates ADD COLUMN deleted_at timestamptz(3)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE teammates DROP COLUMN deleted_at`);
    await q.query(`ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_workflow_version`);
    await q.query(`ALTER TABLE workflow_runs DROP COLUMN workflow_version`);
    await q.query(`ALTER TABLE workflows DROP COLUMN deleted_at, DROP COLUMN updated_at, DROP COLUMN version`);
    await q.query(`DROP TABLE workflow_versions`);
    await q.query(`ALTER TABLE workflows ALTER COLUMN created_at TYPE timestamptz`);
  }
}
