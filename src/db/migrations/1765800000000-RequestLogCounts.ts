import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Request-log counts that do not scan history.
 *
 * `requestLogs { totalCount }` counted a teammate's API runs with count(*), which reads every one
 * of them (198 ms at 1 M runs, 1 s at 5 M). `request_log_counts` holds the same number kept as
 * data changes: one row per (teammate, status, UTC day, shard) with how many of the teammate's
 * API-channel runs are in it. A count is the sum of a teammate's rows (a few per day kept by
 * retention), and a `since`/`until` range sums its whole days and counts only its two partial
 * edge days in the index (TeammateService's count statements).
 *
 * Kept by triggers, so every writer (the start statement, the claim, finish, sweep, cancel,
 * retention, a cascading delete of an organization) keeps it exact in its own transaction, and no
 * statement has to remember to.
 * - Inserts and deletes: statement triggers with transition tables, one upsert per distinct
 *   counter row of the statement (retention deleting 100,000 runs touches a few hundred rows,
 *   not 100,000 times one).
 * - Status changes: a row trigger that fires only when `status` changes (WHEN), not on the lease
 *   renewals and progress saves that update runs far more often.
 * - Shards: a run counts in shard hash(id) % 8, the same shard for each of its changes. Every
 *   start of one teammate increments a counter row and holds its lock until the commit; with one
 *   row per teammate and day, concurrent starts of one teammate would queue on it. Eight rows
 *   make that eight times rarer, and cost a count eight rows per status and day.
 * Rows that fall to zero are deleted by the statement that emptied them.
 *
 * `organization_id` leads the key so that the table distributes by organization like the others
 * (SCALING.md).
 *
 * `conversation_counts` is the same for a teammate's conversations (`conversations { totalCount }`),
 * which no retention ends: per (teammate, shard), kept by statement triggers on inserts and deletes
 * (a start that creates a conversation increments one of eight rows of its teammate).
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
        shard smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (organization_id, teammate_id, status, day, shard)
      )`);
    await q.query(`
      CREATE FUNCTION request_log_count_shard(id uuid) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT (abs(hashtext(id::text)) % 8)::smallint $$`);
    await q.query(`
      CREATE FUNCTION request_log_count_day(at timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT (at AT TIME ZONE 'UTC')::date $$`);
    // Adds each (key, delta) of a statement's changes, then drops the rows it brought to zero (a
    // second statement: a data-modifying CTE would not see the first one's new row versions).
    // Keys are locked in one order (ORDER BY) so that two statements never wait on each other crosswise.
    await q.query(`
      CREATE FUNCTION request_log_counts_add(changes json) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO request_log_counts AS r (organization_id, teammate_id, status, day, shard, n)
        SELECT organization_id, teammate_id, status, day, shard, sum(n)::bigint
          FROM json_to_recordset(changes) AS c (organization_id uuid, teammate_id uuid, status text, day date, shard smallint, n bigint)
         GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0
         ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organization_id, teammate_id, status, day, shard) DO UPDATE SET n = r.n + EXCLUDED.n;
        DELETE FROM request_log_counts r
         USING json_to_recordset(changes) AS c (organization_id uuid, teammate_id uuid, status text, day date, shard smallint, n bigint)
         WHERE c.n < 0 AND r.n = 0
           AND (r.organization_id, r.teammate_id, r.status, r.day, r.shard) = (c.organization_id, c.teammate_id, c.status, c.day, c.shard);
      END $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM request_log_counts_add((
          SELECT json_agg(json_build_object('organization_id', organization_id, 'teammate_id', teammate_id, 'status', status,
                                            'day', request_log_count_day(created_at), 'shard', request_log_count_shard(id), 'n', 1))
            FROM inserted WHERE channel = 'API' AND teammate_id IS NOT NULL));
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM request_log_counts_add((
          SELECT json_agg(json_build_object('organization_id', organization_id, 'teammate_id', teammate_id, 'status', status,
                                            'day', day, 'shard', shard, 'n', -n))
            FROM (SELECT organization_id, teammate_id, status, request_log_count_day(created_at) AS day,
                         request_log_count_shard(id) AS shard, count(*) AS n
                    FROM deleted WHERE channel = 'API' AND teammate_id IS NOT NULL
                   GROUP BY 1, 2, 3, 4, 5) AS g));
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION request_log_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM request_log_counts_add(json_build_array(
          json_build_object('organization_id', OLD.organization_id, 'teammate_id', OLD.teammate_id, 'status', OLD.status,
                            'day', request_log_count_day(OLD.created_at), 'shard', request_log_count_shard(OLD.id), 'n', -1),
          json_build_object('organization_id', NEW.organization_id, 'teammate_id', NEW.teammate_id, 'status', NEW.status,
                            'day', request_log_count_day(NEW.created_at), 'shard', request_log_count_shard(NEW.id), 'n', 1)));
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER request_log_counts_insert AFTER INSERT ON workflow_runs
        REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_inserted()`);
    await q.query(`
      CREATE TRIGGER request_log_counts_delete AFTER DELETE ON workflow_runs
        REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION request_log_counts_deleted()`);
    // Runs never change teammate, channel, id or creation time; a status change moves one count.
    await q.query(`
      CREATE TRIGGER request_log_counts_status AFTER UPDATE OF status ON workflow_runs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.channel = 'API' AND NEW.teammate_id IS NOT NULL)
        EXECUTE FUNCTION request_log_counts_moved()`);
    await q.query(`
      CREATE TABLE conversation_counts (
        organization_id uuid NOT NULL,
        teammate_id uuid NOT NULL,
        shard smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (organization_id, teammate_id, shard)
      )`);
    await q.query(`
      CREATE FUNCTION conversation_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO conversation_counts AS r (organization_id, teammate_id, shard, n)
        SELECT organization_id, teammate_id, request_log_count_shard(id), CASE WHEN TG_OP = 'INSERT' THEN count(*) ELSE -count(*) END
          FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (organization_id, teammate_id, shard) DO UPDATE SET n = r.n + EXCLUDED.n;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_changed()`);
    await q.query(`
      CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_changed()`);
    await q.query(`LOCK TABLE conversations IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      INSERT INTO conversation_counts (organization_id, teammate_id, shard, n)
      SELECT organization_id, teammate_id, request_log_count_shard(id), count(*) FROM conversations GROUP BY 1, 2, 3`);
    // The runs already there, counted once (under an exclusive lock, so none start meanwhile).
    await q.query(`LOCK TABLE workflow_runs IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      INSERT INTO request_log_counts (organization_id, teammate_id, status, day, shard, n)
      SELECT organization_id, teammate_id, status, request_log_count_day(created_at), request_log_count_shard(id), count(*)
        FROM workflow_runs WHERE channel = 'API' AND teammate_id IS NOT NULL
       GROUP BY 1, 2, 3, 4, 5`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER conversation_counts_delete ON conversations`);
    await q.query(`DROP TRIGGER conversation_counts_insert ON conversations`);
    await q.query(`DROP FUNCTION conversation_counts_changed()`);
    await q.query(`DROP TABLE conversation_counts`);
    await q.query(`DROP TRIGGER request_log_counts_status ON workflow_runs`);
    await q.query(`DROP TRIGGER request_log_counts_delete ON workflow_runs`);
    await q.query(`DROP TRIGGER request_log_counts_insert ON workflow_runs`);
    await q.query(`DROP FUNCTION request_log_counts_moved(), request_log_counts_deleted(), request_log_counts_inserted()`);
    await q.query(`DROP FUNCTION request_log_counts_add(json), request_log_count_day(timestamptz), request_log_count_shard(uuid)`);
    await q.query(`DROP TABLE request_log_counts`);
  }
}
