import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every run status change (and the insert) is announced on channel `alloy_run_events`, after the
 * commit, as `{"id","organizationId","status","seq"}`. `status_seq` counts the run's status
 * changes (1 at insert), so a listener that reads the row and also gets notifications can tell
 * which ones it has already seen and keep them in order. A trigger rather than application code:
 * every path that moves a run (trigger, claim, release, sweep, finish, a fix by hand in psql) is
 * announced, and none can forget to.
 */
export class RunEvents1765300000000 implements MigrationInterface {
  name = 'RunEvents1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs ADD COLUMN status_seq int NOT NULL DEFAULT 1`);
    await q.query(`
      CREATE FUNCTION alloy_announce_run_status() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
            RETURN NEW;
          END IF;
          NEW.status_seq := OLD.status_seq + 1;
        END IF;
        PERFORM pg_notify('alloy_run_events', json_build_object(
          'id', NEW.id, 'organizationId', NEW.organization_id, 'status', NEW.status, 'seq', NEW.status_seq)::text);
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER workflow_runs_announce_status
        BEFORE INSERT OR UPDATE OF status ON workflow_runs FOR EACH ROW
        EXECUTE FUNCTION alloy_announce_run_status()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER workflow_runs_announce_status ON workflow_runs`);
    await q.query(`DROP FUNCTION alloy_announce_run_status()`);
    await q.query(`ALTER TABLE workflow_runs DROP COLUMN status_seq`);
  }
}
