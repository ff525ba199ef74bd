import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runs as they happen (issue 18): the stored, numbered events of each run, the CANCELLED status,
 * reruns and completion callbacks.
 *
 * `workflow_run_events` holds each run's events, numbered 1, 2, 3 … by `workflow_runs.event_seq`
 * (the last number given). Every status change writes its STATUS event from a trigger, in the
 * statement that changes the status, so that no path that moves a run (a fix by hand in psql too)
 * leaves a gap; the executor appends its STEP_STARTED, STEP_FINISHED and OUTPUT events by raising
 * `event_seq` on the run row, which also orders them against the status changes (row lock). The
 * events go with their run (ON DELETE CASCADE): retention deletes both in one statement.
 */
export class RunEventLog1765400000000 implements MigrationInterface {
  name = 'RunEventLog1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_status_check`);
    await q.query(`
      ALTER TABLE workflow_runs
        ADD CONSTRAINT workflow_runs_status_check CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        ADD COLUMN event_seq int NOT NULL DEFAULT 1,
        ADD COLUMN rerun_of uuid REFERENCES workflow_runs(id) ON DELETE SET NULL,
        ADD COLUMN callback_url text,
        ADD COLUMN callback_attempts int NOT NULL DEFAULT 0,
        ADD COLUMN callback_delivered_at timestamptz(3),
        ADD COLUMN callback_last_error text`);
    // Retention finds expired finished runs through this index; CANCELLED runs are finished too.
    await q.query(`DROP INDEX workflow_runs_finished`);
    await q.query(
      `CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`,
    );
    // SET NULL on a deleted original needs to find its reruns.
    await q.query(`CREATE INDEX workflow_runs_rerun_of ON workflow_runs (rerun_of) WHERE rerun_of IS NOT NULL`);
    await q.query(`
      CREATE TABLE workflow_run_events (
        run_id uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
        seq int NOT NULL,
        type text NOT NULL CHECK (type IN ('STATUS', 'STEP_STARTED', 'STEP_FINISHED', 'OUTPUT')),
        step text,
        data json,
        at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_id, seq)
      )`);
    // Runs that exist already start their list with their status as it is now.
    await q.query(`INSERT INTO workflow_run_events (run_id, seq, type, data) SELECT id, 1, 'STATUS', to_json(status) FROM workflow_runs`);
    await q.query(`
      CREATE FUNCTION alloy_number_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
          NEW.event_seq := NEW.event_seq + 1;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER workflow_runs_number_status_event
        BEFORE UPDATE OF status ON workflow_runs FOR EACH ROW
        EXECUTE FUNCTION alloy_number_status_event()`);
    await q.query(`
      CREATE FUNCTION alloy_record_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
          INSERT INTO workflow_run_events (run_id, seq, type, data) VALUES (NEW.id, NEW.event_seq, 'STATUS', to_json(NEW.status));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER workflow_runs_record_status_event
        AFTER INSERT OR UPDATE OF status ON workflow_runs FOR EACH ROW
        EXECUTE FUNCTION alloy_record_status_event()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER workflow_runs_record_status_event ON workflow_runs`);
    await q.query(`DROP FUNCTION alloy_record_status_event()`);
    await q.query(`DROP TRIGGER workflow_runs_number_status_event ON workflow_runs`);
    await q.query(`DROP FUNCTION alloy_number_status_event()`);
    await q.query(`DROP TABLE workflow_run_events`);
    await q.query(`DROP INDEX workflow_runs_rerun_of`);
    await q.query(`DROP INDEX workflow_runs_finished`);
    await q.query(`CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE status IN ('SUCCEEDED', 'FAILED')`);
    await q.query(`DELETE FROM workflow_runs WHERE status = 'CANCELLED'`);
    await q.query(`
      ALTER TABLE workflow_runs
        DROP CONSTRAINT workflow_runs_status_check,
        ADD CONSTRAINT workflow_runs_status_check CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
        DROP COLUMN event_seq, DROP COLUMN rerun_of, DROP COLUMN callback_url, DROP COLUMN callback_attempts,
        DROP COLUMN callback_delivered_at, DROP COLUMN callback_last_error`);
  }
}
