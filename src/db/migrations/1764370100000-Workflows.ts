import { MigrationInterface, QueryRunner } from 'typeorm';

export class Workflows1764370100000 implements MigrationInterface {
  name = 'Workflows1764370100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workflows (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        start_step text,
        startable boolean NOT NULL,
        definition jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (startable = (start_step IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX workflows_organization_page ON workflows (organization_id, created_at, id)`);

    await q.query(`
      CREATE TABLE teammates (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE RESTRICT,
        channels text[] NOT NULL DEFAULT '{}' CHECK (channels <@ ARRAY['API']::text[]),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX teammates_organization_page ON teammates (organization_id, created_at, id)`);
    await q.query(`CREATE INDEX teammates_workflow ON teammates (workflow_id)`);

    // created_at keeps milliseconds only, so the (createdAt, id) keyset cursors round-trip exactly
    // through JavaScript dates.
    await q.query(`
      CREATE TABLE workflow_runs (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        teammate_id uuid REFERENCES teammates(id) ON DELETE SET NULL,
        channel text NOT NULL CHECK (channel IN ('TRIGGER', 'API')),
        api_key_id uuid REFERENCES api_keys(id) ON DELETE SET NULL,
        status text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
        payload jsonb,
        output jsonb,
        error text,
        step_results jsonb NOT NULL DEFAULT '{}',
        next_step text,
        lease_token uuid,
        lease_until timestamptz,
        recoveries int NOT NULL DEFAULT 0,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id)`);
    // Request logs: a teammate's API-channel runs, newest first, keyset-paged on (created_at, id).
    await q.query(`
      CREATE INDEX workflow_runs_request_logs ON workflow_runs (teammate_id, created_at DESC, id DESC)
        WHERE channel = 'API'`);
    // The same with a status filter, so that filtered pages are as cheap as unfiltered ones.
    await q.query(`
      CREATE INDEX workflow_runs_request_logs_by_status ON workflow_runs (teammate_id, status, created_at DESC, id DESC)
        WHERE channel = 'API'`);
    // The sweeper looks for RUNNING runs whose worker stopped renewing its lease.
    await q.query(`CREATE INDEX workflow_runs_expired_leases ON workflow_runs (lease_until) WHERE status = 'RUNNING'`);

    await q.query(`
      CREATE TABLE workflow_idempotency_keys (
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        key text NOT NULL,
        run_id uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        request_hash text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (organization_id, key)
      )`);
    await q.query(`CREATE INDEX workflow_idempotency_keys_run ON workflow_idempotency_keys (run_id)`);
    await q.query(`CREATE INDEX workflow_idempotency_keys_expiry ON workflow_idempotency_keys (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE workflow_idempotency_keys`);
    await q.query(`DROP TABLE workflow_runs`);
    await q.query(`DROP TABLE teammates`);
    await q.query(`DROP TABLE workflows`);
  }
}
