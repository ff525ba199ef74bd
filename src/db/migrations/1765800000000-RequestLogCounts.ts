import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Counts that do not scan history: a teammate's request logs and conversations.
 *
 * `requestLogs { totalCount }` counted a teammate's API runs with count(*), which reads every one
 * of them (198 ms at 1 M runs, 1 s at 5 M). Now the number is kept as data changes:
 *
 * - `request_log_counts`: per (teammate, status, UTC day), how many of the teammate's API-channel
 *   runs there are, as of the last compaction.
 * - `request_log_count_deltas`: the changes since then, one row per change (+n, −n). Triggers on
 *   workflow_runs only ever INSERT here, so concurrent starts of one teammate never wait on each
 *   other: a counter row updated by every start holds its lock until the start commits, and
 *   measured with pgbench (16 clients, one teammate) that halved the start statement's rate even
 *   spread over 8 shard rows (4,533 → 2,178 tps), and cut it to 618 with one row; inserted deltas
 *   kept it at the rate without triggers.
 * - `request_log_counts_compact()` folds the deltas into the counts (one statement: a reader's
 *   snapshot sees each delta on one side or the other, never both or neither); the
 *   `teammates.compact-counts` job calls it every 10 seconds, so a count sums a few rows per status
 *   and day plus at most ten seconds of changes.
 *
 * A count is the sum of both for the teammate; a `since`/`until` range sums its whole days and
 * counts only its partial first and last day in the request-log index (TeammateService).
 *
 * Triggers keep it, so every writer (the start statement, claim, finish, sweep, cancel,
 * retention, a cascading delete) keeps it exact in its own transaction:
 * - inserts and deletes: statement triggers with transition tables, one delta row per
 *   (teammate, status, day) of the statement (retention deleting 100,000 runs writes a few rows);
 * - status changes: a row trigger that fires only when `status` changes (WHEN), not on the lease
 *   renewals and progress saves that update runs far more often.
 *
 * `conversation_counts`/`conversation_count_deltas` are the same for a teammate's conversations
 * (`conversations { totalCount }`), which no retention ends, and `trash_counts`/`trash_count_deltas`
 * for an organization's trash items (`trash { totalCount }`; TRASH_RETENTION_DAYS 0 keeps them all).
 * A trash item is one row (its tree's rows keep `trashed_at` null), so row triggers filtered by
 * WHEN fire once per item trashed, restored or removed, and never for the rows of a tree.
 *
 * `organization_id` leads every key, so these tables distribute by organization like the others
 * (SCALING.md).
 */
export class RequestLogCounts1765800000000 implements MigrationInterface {
  name = 'RequestLogCounts1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE request_log_counts (
        organization_id uuid NOT NULL,
        teammate_id uuid NOT NULL,
        status text NOT NULL,
        day date NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (organization_id, teammate_id, status, day)
      )`);
    await q.query(`
      CREATE TABLE request_log_count_deltas (
        organization_id uuid NOT NULL,
        teammate_id uuid NOT NULL,
        status text NOT NULL,
        day date NOT NULL,
        n bigint NOT NULL
      )`);
    // Compaction drops the counts that reach zero through this (not a scan of every count).
    await q.query(`CREATE INDEX request_log_counts_zero ON request_log_counts (organization_id) WHERE n = 0`);
    await q.query(`CREATE INDEX request_log_count_deltas_teammate ON request_log_count_deltas (organization_id, teammate_id)`);
    await q.query(`
      CREATE FUNCTION request_log_count_day(at timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT (at AT TIME ZONE 'UTC')::date $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO request_log_count_deltas (organization_id, teammate_id, status, day, n)
        SELECT organization_id, teammate_id, status, request_log_count_day(created_at), count(*)
          FROM inserted WHERE channel = 'API' AND teammate_id IS NOT NULL
         GROUP BY 1, 2, 3, 4;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO request_log_count_deltas (organization_id, teammate_id, status, day, n)
        SELECT organization_id, teammate_id, status, request_log_count_day(created_at), -count(*)
          FROM deleted WHERE channel = 'API' AND teammate_id IS NOT NULL
         GROUP BY 1, 2, 3, 4;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO request_log_count_deltas (organization_id, teammate_id, status, day, n)
        VALUES (OLD.organization_id, OLD.teammate_id, OLD.status, request_log_count_day(OLD.created_at), -1),
               (NEW.organization_id, NEW.teammate_id, NEW.status, request_log_count_day(NEW.created_at), 1);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER request_log_counts_insert AFTER INSERT ON workflow_runs
        REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_inserted()`);
    await q.query(`
      CREATE TRIGGER request_log_counts_delete AFTER DELETE ON workflow_runs
        REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_deleted()`);
    // Runs never change teammate, channel or creation time; a status change moves one count.
    await q.query(`
      CREATE TRIGGER request_log_counts_status AFTER UPDATE OF status ON workflow_runs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.channel = 'API' AND NEW.teammate_id IS NOT NULL)
        EXECUTE FUNCTION request_log_counts_moved()`);

    await q.query(`
      CREATE TABLE conversation_counts (
        organization_id uuid NOT NULL,
        teammate_id uuid NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (organization_id, teammate_id)
      )`);
    await q.query(`
      CREATE TABLE conversation_count_deltas (
        organization_id uuid NOT NULL,
        teammate_id uuid NOT NULL,
        n bigint NOT NULL
      )`);
    await q.query(`CREATE INDEX conversation_counts_zero ON conversation_counts (organization_id) WHERE n = 0`);
    await q.query(`CREATE INDEX conversation_count_deltas_teammate ON conversation_count_deltas (organization_id, teammate_id)`);
    await q.query(`
      CREATE FUNCTION conversation_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO conversation_count_deltas (organization_id, teammate_id, n)
        SELECT organization_id, teammate_id, CASE WHEN TG_OP = 'INSERT' THEN count(*) ELSE -count(*) END
          FROM changed GROUP BY 1, 2;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_changed()`);
    await q.query(`
      CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_changed()`);

    await q.query(`
      CREATE TABLE trash_counts (
        organization_id uuid PRIMARY KEY,
        n bigint NOT NULL
      )`);
    await q.query(`CREATE TABLE trash_count_deltas (organization_id uuid NOT NULL, n bigint NOT NULL)`);
    await q.query(`CREATE INDEX trash_count_deltas_organization ON trash_count_deltas (organization_id)`);
    await q.query(`
      CREATE FUNCTION trash_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP <> 'INSERT' AND OLD.trashed_at IS NOT NULL THEN
          INSERT INTO trash_count_deltas (organization_id, n) VALUES (OLD.organization_id, -1);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.trashed_at IS NOT NULL THEN
          INSERT INTO trash_count_deltas (organization_id, n) VALUES (NEW.organization_id, 1);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER trash_counts_insert AFTER INSERT ON storage_entries FOR EACH ROW
        WHEN (NEW.trashed_at IS NOT NULL) EXECUTE FUNCTION trash_counts_changed()`);
    await q.query(`
      CREATE TRIGGER trash_counts_update AFTER UPDATE OF trashed_at ON storage_entries FOR EACH ROW
        WHEN ((OLD.trashed_at IS NULL) <> (NEW.trashed_at IS NULL)) EXECUTE FUNCTION trash_counts_changed()`);
    await q.query(`
      CREATE TRIGGER trash_counts_delete AFTER DELETE ON storage_entries FOR EACH ROW
        WHEN (OLD.trashed_at IS NOT NULL) EXECUTE FUNCTION trash_counts_changed()`);

    // Folds the deltas into the counts: each table's in one statement (deleted and added at one
    // commit), keys locked in one order; rows that reach zero go. Two compactions at once are
    // safe: a delta row is deleted, and so added, by one of them only.
    await q.query(`
      CREATE FUNCTION request_log_counts_compact() RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        folded bigint;
      BEGIN
        WITH moved AS (DELETE FROM request_log_count_deltas RETURNING *),
             summed AS (
               SELECT organization_id, teammate_id, status, day, sum(n)::bigint AS n, count(*) AS deltas
                 FROM moved GROUP BY 1, 2, 3, 4
             ),
             added AS (
               INSERT INTO request_log_counts AS c (organization_id, teammate_id, status, day, n)
               SELECT organization_id, teammate_id, status, day, n FROM summed WHERE n <> 0 ORDER BY 1, 2, 3, 4
               ON CONFLICT (organization_id, teammate_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n
             )
        SELECT COALESCE(sum(deltas), 0) INTO folded FROM summed;
        DELETE FROM request_log_counts WHERE n = 0;
        WITH moved AS (DELETE FROM conversation_count_deltas RETURNING *),
             summed AS (SELECT organization_id, teammate_id, sum(n)::bigint AS n FROM moved GROUP BY 1, 2)
        INSERT INTO conversation_counts AS c (organization_id, teammate_id, n)
        SELECT organization_id, teammate_id, n FROM summed WHERE n <> 0 ORDER BY 1, 2
        ON CONFLICT (organization_id, teammate_id) DO UPDATE SET n = c.n + EXCLUDED.n;
        DELETE FROM conversation_counts WHERE n = 0;
        WITH moved AS (DELETE FROM trash_count_deltas RETURNING *),
             summed AS (SELECT organization_id, sum(n)::bigint AS n FROM moved GROUP BY 1)
        INSERT INTO trash_counts AS c (organization_id, n)
        SELECT organization_id, n FROM summed WHERE n <> 0 ORDER BY 1
        ON CONFLICT (organization_id) DO UPDATE SET n = c.n + EXCLUDED.n;
        DELETE FROM trash_counts WHERE n = 0;
        RETURN folded;
      END $$`);

    // What a database already has, counted once (under a lock that keeps writers out meanwhile).
    await q.query(`LOCK TABLE workflow_runs, conversations, storage_entries IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      INSERT INTO request_log_counts (organization_id, teammate_id, status, day, n)
      SELECT organization_id, teammate_id, status, request_log_count_day(created_at), count(*)
        FROM workflow_runs WHERE channel = 'API' AND teammate_id IS NOT NULL
       GROUP BY 1, 2, 3, 4`);
    await q.query(`
      INSERT INTO conversation_counts (organization_id, teammate_id, n)
      SELECT organization_id, teammate_id, count(*) FROM conversations GROUP BY 1, 2`);
    await q.query(`
      INSERT INTO trash_counts (organization_id, n)
      SELECT organization_id, count(*) FROM storage_entries WHERE trashed_at IS NOT NULL GROUP BY 1`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION request_log_counts_compact()`);
    await q.query(`DROP TRIGGER trash_counts_delete ON storage_entries`);
    await q.query(`DROP TRIGGER trash_counts_update ON storage_entries`);
    await q.query(`DROP TRIGGER trash_counts_insert ON storage_entries`);
    await q.query(`DROP FUNCTION trash_counts_changed()`);
    await q.query(`DROP TABLE trash_count_deltas, trash_counts`);
    await q.query(`DROP TRIGGER conversation_counts_delete ON conversations`);
    await q.query(`DROP TRIGGER conversation_counts_insert ON conversations`);
    await q.query(`DROP FUNCTION conversation_counts_changed()`);
    await q.query(`DROP TABLE conversation_count_deltas, conversation_counts`);
    await q.query(`DROP TRIGGER request_log_counts_status ON workflow_runs`);
    await q.query(`DROP TRIGGER request_log_counts_delete ON workflow_runs`);
    await q.query(`DROP TRIGGER request_log_counts_insert ON workflow_runs`);
    await q.query(`DROP FUNCTION request_log_counts_moved(), request_log_counts_deleted(), request_log_counts_inserted()`);
    await q.query(`DROP FUNCTION request_log_count_day(timestamptz)`);
    await q.query(`DROP TABLE request_log_count_deltas, request_log_counts`);
  }
}
