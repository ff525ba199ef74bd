import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversations with a teammate, and the files a run was handed.
 *
 * A conversation is a thread of runs (`workflow_runs.conversation_id`); its messages are read from
 * those runs, so there is no second copy of an input or an output to go out of step. Deleting a
 * conversation keeps its runs (request logs) and drops only their link (ON DELETE SET NULL).
 *
 * One run at a time per conversation is the unique partial index `workflow_runs_conversation_active`:
 * a second QUEUED or RUNNING run of one conversation cannot be inserted, by any process, however
 * many calls arrive at once (the start statement turns the violation into CONVERSATION_BUSY).
 *
 * `workflow_runs.files` is what the run was given at start (`json`, kept as written): each file's
 * id, path, name, type, size, md5, etag and object key, plus the base URL the call came through.
 */
export class Conversations1765450000000 implements MigrationInterface {
  name = 'Conversations1765450000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE conversations (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        teammate_id uuid NOT NULL REFERENCES teammates(id) ON DELETE CASCADE,
        title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // A teammate's conversations, most recently active first, keyset-paged on (updated_at, id).
    await q.query(`CREATE INDEX conversations_teammate_recent ON conversations (teammate_id, updated_at DESC, id DESC)`);
    await q.query(`
      ALTER TABLE workflow_runs
        ADD COLUMN conversation_id uuid REFERENCES conversations(id) ON DELETE SET NULL,
        ADD COLUMN files json`);
    // A conversation's turns in order (messages, the step context, request logs filtered by conversation).
    await q.query(`
      CREATE INDEX workflow_runs_conversation ON workflow_runs (conversation_id, created_at, id)
        WHERE conversation_id IS NOT NULL`);
    await q.query(`
      CREATE UNIQUE INDEX workflow_runs_conversation_active ON workflow_runs (conversation_id)
        WHERE status IN ('QUEUED', 'RUNNING')`);
    // The deletion job asks which objects active runs were given: only those runs are in this index.
    await q.query(`
      CREATE INDEX workflow_runs_active_files ON workflow_runs (id)
        WHERE files IS NOT NULL AND status IN ('QUEUED', 'RUNNING')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX workflow_runs_active_files`);
    await q.query(`DROP INDEX workflow_runs_conversation_active`);
    await q.query(`DROP INDEX workflow_runs_conversation`);
    await q.query(`ALTER TABLE workflow_runs DROP COLUMN files, DROP COLUMN conversation_id`);
    await q.query(`DROP TABLE conversations`);
  }
}
