import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The run row is the queue: workers claim the oldest QUEUED runs through this partial index, and
 * the retention job finds expired finished runs through the second. Runs that pg-boss jobs still
 * carried when this shipped are QUEUED rows, so workers of this version claim them as they are.
 */
export class RunQueue1765300000001 implements MigrationInterface {
  name = 'RunQueue1765300000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX workflow_runs_queued ON workflow_runs (created_at) WHERE status = 'QUEUED'`);
    await q.query(`CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE status IN ('SUCCEEDED', 'FAILED')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX workflow_runs_finished`);
    await q.query(`DROP INDEX workflow_runs_queued`);
  }
}
