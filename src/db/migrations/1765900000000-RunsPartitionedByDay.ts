import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runs and run events partitioned by UTC day of the run's creation (issue 24), so that retention
 * drops a day's partitions instead of deleting rows one by one (no dead tuples left for the claim
 * and the next retention pass to step over), and a lookup of one run reads one partition.
 *
 * - `workflow_runs` is partitioned by RANGE (created_at): its key becomes (id, created_at).
 *   `workflow_run_events` carries its run's `run_created_at` and is partitioned alike, with the
 *   same day bounds (`workflow_runs_pYYYYMMDD` beside `workflow_run_events_pYYYYMMDD`), so that a
 *   day's runs and events drop together. The `workflows.run-partitions` job creates the next
 *   week's partitions, hourly and at every start. There is no DEFAULT partition: with one,
 *   Postgres cannot read the partitions in order for `ORDER BY created_at … LIMIT` (request-log
 *   pages, the claim) and merges all of them instead (measured at 99 partitions: 223 buffers for
 *   a first page of request logs against 20 without), nor detach a partition concurrently. A run
 *   of a day with no partition fails to start instead; a week of the job failing comes first.
 * - One clock for a run: its id is a version 7 uuid and its `created_at` is the id's time, to the
 *   millisecond (the start statement writes `run_id_time(id)`; the column defaults agree too, and
 *   the CHECK `workflow_runs_created_at_is_id_time` refuses a row made otherwise). So a lookup by
 *   id adds `created_at BETWEEN run_time_lo(id) AND run_time_hi(id)`, immutable functions of the
 *   id that Postgres evaluates when it starts a (prepared, generic) plan and so prunes to the one
 *   partition. Runs made before this migration keep what they had: for their version 7 ids the
 *   bounds widen by the largest gap between id time and created_at found here (their created_at
 *   came from the database clock), for older random (v4) ids they are -infinity..infinity: every
 *   partition, until retention ages those runs out.
 * - Foreign keys to `workflow_runs(id)` go, because a referenced partition cannot be dropped (and
 *   detaching it first checks every referencing row): events go with their day's partition; runs
 *   deleted row by row (the straddling day, an organization deleted, a workflow's versions)
 *   take their events and idempotency keys with them through the statement trigger
 *   `workflow_runs_delete_dependents`; the keys of a dropped day had expired (a key lasts 24 h,
 *   a dropped day is at least a day old) and go with the sweep's expired keys; `rerun_of` is a
 *   soft link (the original resolves to null once it is gone).
 * - The unique partial index `workflow_runs_conversation_active` cannot stay (a unique index of a
 *   partitioned table must contain the partition key). One QUEUED or RUNNING run per conversation
 *   is now the key of `conversation_active_runs`, filled by a trigger when an active run of a
 *   conversation is inserted and emptied when it reaches a final status or is deleted: a second
 *   start of a busy conversation fails whole on `conversation_active_runs_pkey`, which the start
 *   maps to CONVERSATION_BUSY, as before.
 *
 * Existing rows are copied into the new tables in this migration's transaction (both tables are
 * locked meanwhile: the gateways are stopped for it); a million runs with their events took the
 * time given in BENCHMARKS.md (issue 24).
 */
/** The indexes of workflow_runs but its key and the busy rule: the same before and after the partitioning (made on every partition). */
const RUN_INDEXES = [
  `CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id)`,
  `CREATE INDEX workflow_runs_request_logs ON workflow_runs (teammate_id, created_at DESC, id DESC) WHERE channel = 'API'`,
  `CREATE INDEX workflow_runs_request_logs_by_status ON workflow_runs (teammate_id, status, created_at DESC, id DESC) WHERE channel = 'API'`,
  `CREATE INDEX workflow_runs_expired_leases ON workflow_runs (lease_until) WHERE status = 'RUNNING'`,
  `CREATE INDEX workflow_runs_queued ON workflow_runs (created_at) WHERE status = 'QUEUED'`,
  `CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`,
  `CREATE INDEX workflow_runs_rerun_of ON workflow_runs (rerun_of) WHERE rerun_of IS NOT NULL`,
  `CREATE INDEX workflow_runs_conversation ON workflow_runs (conversation_id, created_at, id) WHERE conversation_id IS NOT NULL`,
  `CREATE INDEX workflow_runs_active_files ON workflow_runs (id) WHERE files IS NOT NULL AND status IN ('QUEUED', 'RUNNING')`,
];

export class RunsPartitionedByDay1765900000000 implements MigrationInterface {
  name = 'RunsPartitionedByDay1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`LOCK TABLE workflow_runs, workflow_run_events, workflow_idempotency_keys, conversations IN ACCESS EXCLUSIVE MODE`);

    // The time in a version 7 uuid (its first 48 bits, Unix milliseconds); null for other versions.
    // Written so that Postgres inlines these functions into the statements that call them (an
    // IMMUTABLE SQL function is inlined only if its body is one expression with no STABLE part,
    // such as timestamptz + interval, and a STRICT one only if that expression is strict, which a
    // CASE is not): called as functions they cost about 140 µs each, and the lookups and a
    // worker's appends call them per row and per partition.
    await q.query(`
      CREATE FUNCTION run_id_ms(id uuid) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN substr(id::text, 15, 1) = '7' THEN ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint END
      $$`);
    await q.query(`
      CREATE FUNCTION run_id_time(id uuid) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT to_timestamp(run_id_ms(id)::float8 / 1000)
      $$`);
    // A version 7 uuid of time `at` (floored to the millisecond): ids made in SQL whose created_at is `at`.
    await q.query(`
      CREATE FUNCTION uuid_v7_at(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
        SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                 PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
               52, 1), 53, 1), 'hex')::uuid
      $$`);

    // The widest gap between a v7 id's time and its run's created_at so far, and the moment after
    // which every run's created_at is its id time exactly.
    const [{ margin_ms: marginMs, cutover_ms: cutoverMsText, cutover }] = (await q.query(`
      SELECT margin_ms, cutover_ms, to_char(to_timestamp(cutover_ms::float8 / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS cutover
        FROM (SELECT COALESCE(ceil(max(abs(extract(epoch FROM created_at - run_id_time(id)) * 1000))), 0)::bigint + 1000 AS margin_ms,
                     greatest(floor(extract(epoch FROM now()) * 1000)::bigint, COALESCE(max(run_id_ms(id)), 0) + 1) AS cutover_ms
                FROM workflow_runs WHERE run_id_ms(id) IS NOT NULL) AS gap`)) as {
      margin_ms: string;
      cutover_ms: string;
      cutover: string;
    }[];
    const [margin, cutoverMs] = [Number(marginMs), Number(cutoverMsText)];
    await q.query(`
      CREATE FUNCTION run_time_lo(id uuid) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN run_id_ms(id) IS NULL THEN '-infinity'::timestamptz
                    WHEN run_id_ms(id) < ${cutoverMs} THEN to_timestamp((run_id_ms(id) - ${margin})::float8 / 1000)
                    ELSE to_timestamp(run_id_ms(id)::float8 / 1000) END
      $$`);
    await q.query(`
      CREATE FUNCTION run_time_hi(id uuid) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN run_id_ms(id) IS NULL THEN 'infinity'::timestamptz
                    WHEN run_id_ms(id) < ${cutoverMs} THEN to_timestamp((run_id_ms(id) + ${margin})::float8 / 1000)
                    ELSE to_timestamp(run_id_ms(id)::float8 / 1000) END
      $$`);

    // The old tables step aside: their links, keys and index names go first.
    await q.query(`ALTER TABLE workflow_run_events DROP CONSTRAINT workflow_run_events_run_id_fkey`);
    await q.query(`ALTER TABLE workflow_idempotency_keys DROP CONSTRAINT workflow_idempotency_keys_run_id_fkey`);
    await q.query(`ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_rerun_of_fkey`);
    await q.query(`ALTER TABLE workflow_runs RENAME TO workflow_runs_unpartitioned`);
    await q.query(`ALTER TABLE workflow_run_events RENAME TO workflow_run_events_unpartitioned`);
    for (const index of OLD_RUN_INDEXES) await q.query(`DROP INDEX ${index}`);
    await q.query(`ALTER TABLE workflow_runs_unpartitioned DROP CONSTRAINT workflow_runs_pkey`);
    await q.query(`ALTER TABLE workflow_run_events_unpartitioned DROP CONSTRAINT workflow_run_events_pkey`);

    await q.query(`
      CREATE TABLE workflow_runs (
        id uuid NOT NULL DEFAULT uuid_v7_at(now()),
        organization_id uuid NOT NULL,
        workflow_id uuid NOT NULL,
        teammate_id uuid,
        channel text NOT NULL CONSTRAINT workflow_runs_channel_check CHECK (channel IN ('TRIGGER', 'API')),
        api_key_id uuid,
        status text NOT NULL
          CONSTRAINT workflow_runs_status_check CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        payload json,
        output json,
        error text,
        step_results json NOT NULL DEFAULT '{}',
        next_step text,
        lease_token uuid,
        lease_until timestamptz,
        recoveries int NOT NULL DEFAULT 0,
        created_at timestamptz(3) NOT NULL DEFAULT date_trunc('milliseconds', now()),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        workflow_version int NOT NULL,
        status_seq int NOT NULL DEFAULT 1,
        event_seq int NOT NULL DEFAULT 1,
        rerun_of uuid,
        callback_url text,
        callback_attempts int NOT NULL DEFAULT 0,
        callback_delivered_at timestamptz(3),
        callback_last_error text,
        conversation_id uuid,
        files json,
        CONSTRAINT workflow_runs_created_at_is_id_time
          CHECK (run_id_time(id) IS NULL OR run_id_time(id) < '${cutover}'::timestamptz OR created_at = run_id_time(id)),
        PRIMARY KEY (id, created_at)
      ) PARTITION BY RANGE (created_at)`);
    await q.query(`
      CREATE TABLE workflow_run_events (
        run_id uuid NOT NULL,
        run_created_at timestamptz(3) NOT NULL,
        seq int NOT NULL,
        type text NOT NULL CONSTRAINT workflow_run_events_type_check CHECK (type IN ('STATUS', 'STEP_STARTED', 'STEP_FINISHED', 'OUTPUT')),
        step text,
        data json,
        at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_id, seq, run_created_at)
      ) PARTITION BY RANGE (run_created_at)`);

    // Creates the day partitions of both tables from `first` through `last` that do not exist yet.
    // How many days were created.
    await q.query(`
      CREATE FUNCTION alloy_create_run_partitions(first date, last date) RETURNS int LANGUAGE plpgsql AS $$
      DECLARE
        day date := first;
        created int := 0;
        lo text;
        hi text;
      BEGIN
        WHILE day <= last LOOP
          lo := quote_literal(day::text || ' 00:00:00+00');
          hi := quote_literal((day + 1)::text || ' 00:00:00+00');
          IF to_regclass('workflow_runs_p' || to_char(day, 'YYYYMMDD')) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF workflow_runs FOR VALUES FROM (%s) TO (%s)',
                           'workflow_runs_p' || to_char(day, 'YYYYMMDD'), lo, hi);
            EXECUTE format('CREATE TABLE %I PARTITION OF workflow_run_events FOR VALUES FROM (%s) TO (%s)',
                           'workflow_run_events_p' || to_char(day, 'YYYYMMDD'), lo, hi);
            created := created + 1;
          END IF;
          day := day + 1;
        END LOOP;
        RETURN created;
      END $$`);

    // Drops the oldest day partition (runs and their events) that ends at or before `cutoff` and
    // holds no run still QUEUED or RUNNING nor one that finished at or after `cutoff` (such a day
    // waits for the row-wise pass and a later run); its request-log counts go with it, a count
    // row being of one UTC day, the partition's. One day per call, so that the caller takes the
    // tables' lock one short transaction at a time. The day dropped, or null.
    await q.query(`
      CREATE FUNCTION alloy_drop_expired_run_partition(cutoff timestamptz) RETURNS date LANGUAGE plpgsql AS $$
      DECLARE
        part record;
        busy boolean;
      BEGIN
        FOR part IN
          SELECT c.relname AS runs, 'workflow_run_events_p' || substr(c.relname, 16) AS events,
                 to_date(substr(c.relname, 16), 'YYYYMMDD') AS day
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'workflow_runs'::regclass AND c.relname ~ '^workflow_runs_p[0-9]{8}$'
             AND (to_date(substr(c.relname, 16), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
           ORDER BY c.relname
        LOOP
          -- Through the partial indexes of queued, running and finished runs: no scan of the day.
          EXECUTE format('SELECT EXISTS (SELECT 1 FROM %1$I WHERE status = ''QUEUED'')
                              OR EXISTS (SELECT 1 FROM %1$I WHERE status = ''RUNNING'')
                              OR EXISTS (SELECT 1 FROM %1$I WHERE status IN (''SUCCEEDED'', ''FAILED'', ''CANCELLED'') AND finished_at >= $1)',
                         part.runs) INTO busy USING cutoff;
          CONTINUE WHEN busy;
          EXECUTE format('DROP TABLE IF EXISTS %I', part.events);
          EXECUTE format('DROP TABLE %I', part.runs);
          DELETE FROM request_log_count_deltas WHERE day = part.day;
          DELETE FROM request_log_counts WHERE day = part.day;
          RETURN part.day;
        END LOOP;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE INDEX request_log_counts_day ON request_log_counts (day)`);

    // Every day from the oldest run's (yesterday at the latest: a gateway's clock a little behind
    // the database's at midnight) through a week ahead (or the newest run's, if later).
    await q.query(`
      SELECT alloy_create_run_partitions(
               least((SELECT (min(created_at) AT TIME ZONE 'UTC')::date FROM workflow_runs_unpartitioned), (now() AT TIME ZONE 'UTC')::date - 1),
               greatest((SELECT (max(created_at) AT TIME ZONE 'UTC')::date FROM workflow_runs_unpartitioned), (now() AT TIME ZONE 'UTC')::date + 7))`);

    await q.query(`
      INSERT INTO workflow_runs (${RUN_COLUMNS})
      SELECT ${RUN_COLUMNS} FROM workflow_runs_unpartitioned`);
    await q.query(`
      INSERT INTO workflow_run_events (run_id, run_created_at, seq, type, step, data, at)
      SELECT e.run_id, r.created_at, e.seq, e.type, e.step, e.data, e.at
        FROM workflow_run_events_unpartitioned e JOIN workflow_runs_unpartitioned r ON r.id = e.run_id`);

    // The indexes (each made on every partition), as they were, but the busy rule.
    for (const index of RUN_INDEXES) await q.query(index);

    await q.query(`
      ALTER TABLE workflow_runs
        ADD CONSTRAINT workflow_runs_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE,
        ADD CONSTRAINT workflow_runs_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES workflows(id) ON DELETE CASCADE,
        ADD CONSTRAINT workflow_runs_teammate_id_fkey FOREIGN KEY (teammate_id) REFERENCES teammates(id) ON DELETE SET NULL,
        ADD CONSTRAINT workflow_runs_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys(id) ON DELETE SET NULL,
        ADD CONSTRAINT workflow_runs_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES conversations(id) ON DELETE SET NULL,
        ADD CONSTRAINT workflow_runs_workflow_version
          FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version) ON DELETE CASCADE`);

    // One active run per conversation.
    await q.query(`
      CREATE TABLE conversation_active_runs (
        organization_id uuid NOT NULL,
        conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        run_id uuid NOT NULL,
        PRIMARY KEY (conversation_id)
      )`);
    await q.query(`
      INSERT INTO conversation_active_runs (organization_id, conversation_id, run_id)
      SELECT organization_id, conversation_id, id FROM workflow_runs
       WHERE conversation_id IS NOT NULL AND status IN ('QUEUED', 'RUNNING')`);

    await q.query(`DROP TABLE workflow_run_events_unpartitioned`);
    await q.query(`DROP TABLE workflow_runs_unpartitioned`);

    await q.query(`
      CREATE OR REPLACE FUNCTION alloy_record_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
          INSERT INTO workflow_run_events (run_id, run_created_at, seq, type, data)
          VALUES (NEW.id, NEW.created_at, NEW.event_seq, 'STATUS', to_json(NEW.status));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION alloy_delete_run_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM workflow_run_events e USING deleted d WHERE e.run_id = d.id AND e.run_created_at = d.created_at;
        DELETE FROM workflow_idempotency_keys k USING deleted d WHERE k.run_id = d.id;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION alloy_conversation_turn_started() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO conversation_active_runs (organization_id, conversation_id, run_id)
        VALUES (NEW.organization_id, NEW.conversation_id, NEW.id);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION alloy_conversation_turn_ended() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM conversation_active_runs WHERE conversation_id = OLD.conversation_id AND run_id = OLD.id;
        RETURN NULL;
      END $$`);
    for (const trigger of runTriggers()) await q.query(trigger);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`LOCK TABLE workflow_runs, workflow_run_events, workflow_idempotency_keys, conversations IN ACCESS EXCLUSIVE MODE`);
    await q.query(`ALTER TABLE workflow_runs RENAME TO workflow_runs_partitioned`);
    await q.query(`ALTER TABLE workflow_run_events RENAME TO workflow_run_events_partitioned`);
    for (const index of OLD_RUN_INDEXES) await q.query(`DROP INDEX ${index}`);
    await q.query(`ALTER TABLE workflow_runs_partitioned DROP CONSTRAINT workflow_runs_pkey`);
    await q.query(`ALTER TABLE workflow_run_events_partitioned DROP CONSTRAINT workflow_run_events_pkey`);
    await q.query(`
      CREATE TABLE workflow_runs (
        id uuid PRIMARY KEY DEFAULT uuid_v7(),
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        teammate_id uuid REFERENCES teammates(id) ON DELETE SET NULL,
        channel text NOT NULL CONSTRAINT workflow_runs_channel_check CHECK (channel IN ('TRIGGER', 'API')),
        api_key_id uuid REFERENCES api_keys(id) ON DELETE SET NULL,
        status text NOT NULL
          CONSTRAINT workflow_runs_status_check CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        payload json,
        output json,
        error text,
        step_results json NOT NULL DEFAULT '{}',
        next_step text,
        lease_token uuid,
        lease_until timestamptz,
        recoveries int NOT NULL DEFAULT 0,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        workflow_version int NOT NULL,
        status_seq int NOT NULL DEFAULT 1,
        event_seq int NOT NULL DEFAULT 1,
        rerun_of uuid,
        callback_url text,
        callback_attempts int NOT NULL DEFAULT 0,
        callback_delivered_at timestamptz(3),
        callback_last_error text,
        conversation_id uuid REFERENCES conversations(id) ON DELETE SET NULL,
        files json,
        CONSTRAINT workflow_runs_workflow_version
          FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version) ON DELETE CASCADE
      )`);
    await q.query(`INSERT INTO workflow_runs (${RUN_COLUMNS}) SELECT ${RUN_COLUMNS} FROM workflow_runs_partitioned`);
    await q.query(`
      CREATE TABLE workflow_run_events (
        run_id uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
        seq int NOT NULL,
        type text NOT NULL CONSTRAINT workflow_run_events_type_check CHECK (type IN ('STATUS', 'STEP_STARTED', 'STEP_FINISHED', 'OUTPUT')),
        step text,
        data json,
        at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_id, seq)
      )`);
    await q.query(`
      INSERT INTO workflow_run_events (run_id, seq, type, step, data, at)
      SELECT e.run_id, e.seq, e.type, e.step, e.data, e.at FROM workflow_run_events_partitioned e
       WHERE EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = e.run_id)`);
    await q.query(`DROP TABLE workflow_run_events_partitioned`);
    await q.query(`DROP TABLE workflow_runs_partitioned`);
    await q.query(`DROP TABLE conversation_active_runs`);
    // Soft links that no longer resolve become the nulls the foreign keys kept.
    await q.query(
      `UPDATE workflow_runs r SET rerun_of = NULL WHERE rerun_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workflow_runs o WHERE o.id = r.rerun_of)`,
    );
    await q.query(`DELETE FROM workflow_idempotency_keys k WHERE NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = k.run_id)`);
    await q.query(
      `ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_rerun_of_fkey FOREIGN KEY (rerun_of) REFERENCES workflow_runs(id) ON DELETE SET NULL`,
    );
    await q.query(`
      ALTER TABLE workflow_idempotency_keys ADD CONSTRAINT workflow_idempotency_keys_run_id_fkey
        FOREIGN KEY (run_id) REFERENCES workflow_runs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED`);
    for (const index of RUN_INDEXES) await q.query(index);
    await q.query(`
      CREATE UNIQUE INDEX workflow_runs_conversation_active ON workflow_runs (conversation_id) WHERE status IN ('QUEUED', 'RUNNING')`);
    await q.query(`
      CREATE OR REPLACE FUNCTION alloy_record_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
          INSERT INTO workflow_run_events (run_id, seq, type, data) VALUES (NEW.id, NEW.event_seq, 'STATUS', to_json(NEW.status));
        END IF;
        RETURN NULL;
      END $$`);
    for (const trigger of runTriggers().slice(0, BEFORE_PARTITIONING_TRIGGERS)) await q.query(trigger);
    await q.query(`DROP FUNCTION alloy_conversation_turn_ended(), alloy_conversation_turn_started(), alloy_delete_run_dependents()`);
    // IF EXISTS: a rerun of the counts migration below this one (the bench does) makes that table anew, without it.
    await q.query(`DROP INDEX IF EXISTS request_log_counts_day`);
    await q.query(`DROP FUNCTION alloy_drop_expired_run_partition(timestamptz), alloy_create_run_partitions(date, date)`);
    await q.query(`DROP FUNCTION run_time_hi(uuid), run_time_lo(uuid), uuid_v7_at(timestamptz), run_id_time(uuid), run_id_ms(uuid)`);
  }
}

/** Every column of a run, in the table's order. */
const RUN_COLUMNS = `id, organization_id, workflow_id, teammate_id, channel, api_key_id, status, payload, output, error, step_results,
  next_step, lease_token, lease_until, recoveries, created_at, started_at, finished_at, workflow_version, status_seq, event_seq,
  rerun_of, callback_url, callback_attempts, callback_delivered_at, callback_last_error, conversation_id, files`;

/** The indexes of workflow_runs before this migration, but its key (names shared by both shapes). */
const OLD_RUN_INDEXES = [
  'workflow_runs_active_files',
  'workflow_runs_conversation',
  'workflow_runs_expired_leases',
  'workflow_runs_finished',
  'workflow_runs_queued',
  'workflow_runs_request_logs',
  'workflow_runs_request_logs_by_status',
  'workflow_runs_rerun_of',
  'workflow_runs_workflow',
];

/** How many of runTriggers() the table had before this migration (the rest are its own). */
const BEFORE_PARTITIONING_TRIGGERS = 6;

/** The triggers of workflow_runs: those it had (same functions), then the ones this migration adds. */
function runTriggers(): string[] {
  return [
    `CREATE TRIGGER workflow_runs_count_status BEFORE UPDATE OF status ON workflow_runs FOR EACH ROW
       EXECUTE FUNCTION alloy_count_run_status()`,
    `CREATE TRIGGER workflow_runs_number_status_event BEFORE UPDATE OF status ON workflow_runs FOR EACH ROW
       EXECUTE FUNCTION alloy_number_status_event()`,
    `CREATE TRIGGER workflow_runs_record_status_event AFTER INSERT OR UPDATE OF status ON workflow_runs FOR EACH ROW
       EXECUTE FUNCTION alloy_record_status_event()`,
    `CREATE TRIGGER request_log_counts_insert AFTER INSERT ON workflow_runs
       REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_inserted()`,
    `CREATE TRIGGER request_log_counts_delete AFTER DELETE ON workflow_runs
       REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_deleted()`,
    `CREATE TRIGGER request_log_counts_status AFTER UPDATE OF status ON workflow_runs FOR EACH ROW
       WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.channel = 'API' AND NEW.teammate_id IS NOT NULL)
       EXECUTE FUNCTION request_log_counts_moved()`,
    `CREATE TRIGGER workflow_runs_delete_dependents AFTER DELETE ON workflow_runs
       REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION alloy_delete_run_dependents()`,
    `CREATE TRIGGER workflow_runs_conversation_turn_started AFTER INSERT ON workflow_runs FOR EACH ROW
       WHEN (NEW.conversation_id IS NOT NULL AND NEW.status IN ('QUEUED', 'RUNNING'))
       EXECUTE FUNCTION alloy_conversation_turn_started()`,
    `CREATE TRIGGER workflow_runs_conversation_turn_ended AFTER UPDATE OF status ON workflow_runs FOR EACH ROW
       WHEN (OLD.conversation_id IS NOT NULL AND OLD.status IN ('QUEUED', 'RUNNING') AND NEW.status NOT IN ('QUEUED', 'RUNNING'))
       EXECUTE FUNCTION alloy_conversation_turn_ended()`,
    `CREATE TRIGGER workflow_runs_conversation_turn_deleted AFTER DELETE ON workflow_runs FOR EACH ROW
       WHEN (OLD.conversation_id IS NOT NULL AND OLD.status IN ('QUEUED', 'RUNNING'))
       EXECUTE FUNCTION alloy_conversation_turn_ended()`,
  ];
}
