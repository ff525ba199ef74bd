import { Client } from 'pg';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { waitFor } from './support/poll';
import { apiCallStatement } from '../src/teammates/teammate.service';
import { deleteExpiredRuns } from '../src/workflows/run-retention';
import { compactCounts } from '../src/teammates/count-compaction';
import { RequestLogCounts1765800000000 } from '../src/db/migrations/1765800000000-RequestLogCounts';

/*
 * `requestLogs { totalCount }` is read from request_log_counts and its deltas (kept by triggers on
 * workflow_runs, folded by compactCounts) instead of counting the runs. These tests hold it against a plain count(*) of the runs through
 * inserts, status changes, retention's deletes, concurrent calls and the migration of a database
 * that already has runs, and read the plans to check that the count no longer reads the runs.
 */

const CALL = `mutation($id: ID!, $input: JSON!) { callTeammate(teammateId: $id, input: $input) { runId } }`;
const COUNT = `query($id: ID!, $status: WorkflowRunStatus, $since: DateTime, $until: DateTime) {
  teammate(id: $id) { requestLogs(first: 20, status: $status, since: $since, until: $until) { totalCount edges { node { id } } } }
}`;

const DAY = 24 * 60 * 60 * 1000;

/** A small seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Filter {
  status?: string;
  since?: string;
  until?: string;
}

describe('request-log counts: kept as runs change, read without counting runs', () => {
  const { gw, org } = useGatewayWithOrg({ orgName: 'Counts Org' });
  let workflowId: string;
  let teammate: string;
  let other: string;
  /** The UTC midnight ten days ago: seeded runs spread over the ten days after it. */
  const start = new Date(Math.floor(Date.now() / DAY) * DAY - 10 * DAY);
  const at = (days: number) => new Date(start.getTime() + days * DAY).toISOString();

  const totalCount = async (id: string, filter: Filter) => {
    const res = await graphql(gw.url, COUNT, { id, ...filter }, { apiKey: org.apiKey });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return res.body.data.teammate.requestLogs.totalCount as number;
  };
  /** The answer the counters must give: the runs counted one by one. */
  const truth = async (id: string, filter: Filter) => {
    const [row] = await gw.db.query(
      `SELECT count(*)::int AS n FROM workflow_runs
        WHERE teammate_id = $1 AND channel = 'API' AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)`,
      [id, filter.status ?? null, filter.since ?? null, filter.until ?? null],
    );
    return row.n as number;
  };

  /** Finished runs written directly, as a long history would have left them: `times` in days after `start`. */
  const seed = async (teammateId: string | null, channel: string, times: number[], status: (i: number) => string) => {
    await gw.db.query(
      `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload, output,
                                  created_at, started_at, finished_at)
       SELECT gen_random_uuid(), $1, $2, 1, $3, $4, s, '{}', '{}', t, t, t + interval '20 milliseconds'
         FROM unnest($5::timestamptz[], $6::text[]) AS r (t, s)`,
      [org.orgId, workflowId, teammateId, channel, times.map(at), times.map((_, i) => status(i))],
    );
  };

  /** Filters whose ranges start and end at midnights, within one day, open on either side, and on no runs. */
  const filters = (): Filter[] => {
    const ranges: Filter[] = [
      {},
      { since: at(3) },
      { since: at(3.25) },
      { until: at(6) },
      { until: at(6.7) },
      { since: at(2), until: at(7) },
      { since: at(2.4), until: at(7.6) },
      { since: at(4.1), until: at(4.9) },
      { since: at(4), until: at(5) },
      { since: at(4.5), until: at(5.5) },
      { since: at(-5), until: at(-1) },
      { since: at(9.999), until: at(40) },
    ];
    return ranges.flatMap((range) => [range, { ...range, status: 'SUCCEEDED' }, { ...range, status: 'FAILED' }]);
  };

  const expectCountsTrue = async (id: string) => {
    for (const filter of filters()) {
      expect({ filter, count: await totalCount(id, filter) }).toEqual({ filter, count: await truth(id, filter) });
    }
  };

  beforeAll(async () => {
    ({
      workflow: { id: workflowId },
    } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'echo',
      startStep: 'reply',
      steps: { reply: { type: 'transform', output: { reply: '{{payload.message}}' } } },
    }));
    teammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Counted', workflowId, channels: ['API'] })).id;
    other = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Other', workflowId, channels: ['API'] })).id;
    // The seeded days have partitions of their own (runs are partitioned by day), so retention drops the oldest whole.
    await gw.db.query(`SELECT alloy_create_run_partitions($1::date, current_date)`, [at(0).slice(0, 10)]);
    const next = random(24);
    const times = Array.from({ length: 800 }, () => next() * 10);
    // Midnights exactly, which belong to the day they start.
    times.push(3, 4, 5, 5, 7);
    await seed(teammate, 'API', times, (i) => (i % 3 === 0 ? 'FAILED' : 'SUCCEEDED'));
    // Runs that are not the teammate's request logs: another teammate's, and runs of the workflow itself.
    await seed(other, 'API', [1.5, 4.5, 4.5, 8.5], () => 'SUCCEEDED');
    await seed(null, 'TRIGGER', [4.2, 4.3, 5.1], () => 'FAILED');
  });

  it('totalCount equals a count of the runs, with and without status, since and until', async () => {
    expect(await totalCount(teammate, {})).toBe(805);
    await expectCountsTrue(teammate);
    await expectCountsTrue(other);
  });

  it('follows status changes and retention deletes, and leaves no empty counter rows', async () => {
    // A status change of a batch, as finish and sweep statements make them.
    await gw.db.query(
      `UPDATE workflow_runs SET status = 'FAILED' WHERE id IN (
         SELECT id FROM workflow_runs WHERE teammate_id = $1 AND status = 'SUCCEEDED' ORDER BY id LIMIT 150)`,
      [teammate],
    );
    // Updates that keep the status (lease renewals, progress) change no count.
    await gw.db.query(`UPDATE workflow_runs SET output = '{"again": true}' WHERE teammate_id = $1`, [teammate]);
    await expectCountsTrue(teammate);
    // Retention, as the job runs it: everything finished more than 5 days ago, whole days dropped
    // (the 5 oldest, whose counts go with them), the day straddling the cut-off in batches of 100.
    const before = await truth(teammate, {});
    const removed = await deleteExpiredRuns(gw.db, 5, 100);
    expect(removed.droppedDays).toEqual([0, 1, 2, 3, 4].map((d) => at(d).slice(0, 10)));
    expect(removed.deleted).toBeGreaterThan(0);
    expect(before - (await truth(teammate, {}))).toBeGreaterThan(300);
    await expectCountsTrue(teammate);
    await expectCountsTrue(other);
    // Folding the deltas changes no count, leaves no delta and no empty count behind.
    await compactCounts(gw.db);
    await expectCountsTrue(teammate);
    await expectCountsTrue(other);
    const [left] = await gw.db.query(
      `SELECT (SELECT count(*) FROM request_log_counts WHERE n <= 0)::int AS empty, (SELECT count(*) FROM request_log_count_deltas)::int AS deltas`,
    );
    expect(left).toEqual({ empty: 0, deltas: 0 });
    const [oldest] = await gw.db.query(`SELECT min(day)::text AS day FROM request_log_counts WHERE teammate_id = $1`, [teammate]);
    expect(oldest.day >= at(4).slice(0, 10)).toBe(true);
  });

  it('counts calls made through the API as they run, many of one teammate at once', async () => {
    const fresh = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Busy', workflowId, channels: ['API'] })).id;
    // Compactions run while the calls start and finish (as the job does every 10 s, here back to back).
    let calling = true;
    const compacting = (async () => {
      let folded = 0;
      while (calling) folded += await compactCounts(gw.db);
      return folded;
    })();
    const calls = await Promise.all(
      Array.from({ length: 30 }, (_, i) => graphql(gw.url, CALL, { id: fresh, input: { message: `m${i}` } }, { apiKey: org.apiKey })),
    );
    for (const res of calls) expect(res.body.errors).toBeUndefined();
    await waitFor(
      () => truth(fresh, { status: 'SUCCEEDED' }),
      (n) => n === 30,
      30_000,
      'the 30 calls to succeed',
    );
    calling = false;
    expect(await compacting).toBeGreaterThan(0);
    expect(await totalCount(fresh, {})).toBe(30);
    expect(await totalCount(fresh, { status: 'SUCCEEDED' })).toBe(30);
    expect(await totalCount(fresh, { status: 'QUEUED' })).toBe(0);
    expect(await totalCount(fresh, { status: 'RUNNING' })).toBe(0);
    expect(await totalCount(fresh, { since: new Date(Date.now() - 60_000).toISOString() })).toBe(30);
    // Their ids are time-ordered (uuidv7): the first 48 bits are the milliseconds of the start.
    const runs = await gw.db.query(`SELECT id, created_at FROM workflow_runs WHERE teammate_id = $1`, [fresh]);
    for (const run of runs) {
      expect(run.id[14]).toBe('7');
      expect(Math.abs(parseInt(run.id.replace(/-/g, '').slice(0, 12), 16) - run.created_at.getTime())).toBeLessThan(5_000);
    }
    // The same in SQL, the default of rows inserted without an id.
    const [fromSql] = await gw.db.query(`SELECT uuid_v7()::text AS id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms`);
    expect(fromSql.id[14]).toBe('7');
    expect(Math.abs(parseInt(fromSql.id.replace(/-/g, '').slice(0, 12), 16) - Number(fromSql.ms))).toBeLessThan(1_000);
  });

  it("counts a teammate's conversations as calls start them and they are deleted", async () => {
    const talker = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Talker', workflowId, channels: ['API'] })).id;
    const conversations = async () => {
      const res = await graphql(
        gw.url,
        `
          query ($id: ID!) {
            teammate(id: $id) {
              conversations(first: 2) {
                totalCount
              }
            }
          }
        `,
        { id: talker },
        { apiKey: org.apiKey },
      );
      return res.body.data.teammate.conversations.totalCount as number;
    };
    const started = await Promise.all(
      Array.from({ length: 6 }, (_, i) => graphql(gw.url, CALL, { id: talker, input: { message: `c${i}` } }, { apiKey: org.apiKey })),
    );
    for (const res of started) expect(res.body.errors).toBeUndefined();
    expect(await conversations()).toBe(6);
    const [first] = await gw.db.query(`SELECT id FROM conversations WHERE teammate_id = $1 LIMIT 1`, [talker]);
    const deleted = await graphql(
      gw.url,
      `
        mutation ($id: ID!) {
          deleteConversation(id: $id)
        }
      `,
      { id: first.id },
      { apiKey: org.apiKey },
    );
    expect(deleted.body.data?.deleteConversation).toBe(true);
    expect(await conversations()).toBe(5);
    await compactCounts(gw.db);
    expect(await conversations()).toBe(5);
    await waitFor(
      () => truth(talker, { status: 'SUCCEEDED' }),
      (n) => n === 6,
      30_000,
      'the 6 calls to succeed',
    );
  });

  it("counts the organization's trash items as entries are trashed, restored, purged and the trash emptied", async () => {
    const ask = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await graphql(gw.url, query, variables, { apiKey: org.apiKey });
      if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
      return res.body.data;
    };
    const trashCount = async () => (await ask(`{ trash(first: 1) { totalCount } }`)).trash.totalCount as number;
    const truthTrash = async () =>
      (
        await gw.db.query(`SELECT count(*)::int AS n FROM storage_entries WHERE organization_id = $1 AND trashed_at IS NOT NULL`, [
          org.orgId,
        ])
      )[0].n as number;
    const mkdir = (path: string) => ask(`mutation($p: String!) { createFolder(path: $p) { id } }`, { p: path });
    const trash = (path: string, permanent = false) =>
      ask(`mutation($p: String!, $x: Boolean) { deleteEntry(path: $p, permanent: $x) { deletedFolders } }`, { p: path, x: permanent });
    // A folder with a tree below it is one item; so is each of the others.
    for (const path of ['/t/big/a/b/c', '/t/big/d', '/t/one', '/t/two', '/t/three', '/t/gone']) await mkdir(path);
    for (const path of ['/t/big', '/t/one', '/t/two', '/t/three']) await trash(path);
    await trash('/t/gone', true);
    expect(await trashCount()).toBe(4);
    expect(await truthTrash()).toBe(4);
    const [one] = await gw.db.query(`SELECT id FROM storage_entries WHERE organization_id = $1 AND trashed_path = '/t/one'`, [org.orgId]);
    await ask(`mutation($id: ID!) { restoreEntry(id: $id) { id } }`, { id: one.id });
    expect(await trashCount()).toBe(3);
    await compactCounts(gw.db);
    expect(await trashCount()).toBe(3);
    await ask(`mutation { emptyTrash { deletedFolders } }`);
    expect(await trashCount()).toBe(0);
    expect(await truthTrash()).toBe(0);
    await trash('/t/one');
    expect(await trashCount()).toBe(1);
    await compactCounts(gw.db);
    expect(await trashCount()).toBe(1);
    const [rows] = await gw.db.query(`SELECT count(*)::int AS n FROM trash_counts WHERE n <= 0`);
    expect(rows.n).toBe(0);
  });

  it('folds the deltas into the counts by itself (the teammates.compact-counts job, every 10 s)', async () => {
    await seed(other, 'API', [8.25], () => 'SUCCEEDED');
    const deltas = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM request_log_count_deltas`))[0].n as number;
    const folds = async () =>
      (await gw.db.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'teammates.compact-counts' AND state = 'completed'`))[0]
        .n as number;
    const before = await folds();
    // A later compaction than the seed's commit: two more completed jobs than before (the first may have begun earlier).
    await waitFor(folds, (n) => n >= before + 2, 40_000, 'two more compaction jobs to complete');
    expect(await deltas()).toBe(0);
    await expectCountsTrue(other);
  });

  /** The rows each node of the plan of `sql` read from workflow_runs, run with `values`. */
  const runsRead = async (sql: string, values: unknown[]) => {
    const client = new Client({ connectionString: gw.database.url });
    await client.connect();
    try {
      await client.query(`PREPARE counted AS ${sql}`);
      const placeholders = values.map((v) => (v === null ? 'NULL' : `'${String(v)}'`)).join(', ');
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE counted (${placeholders})`);
      let read = 0;
      const walk = (node: Record<string, unknown>) => {
        if (node['Relation Name'] === 'workflow_runs') read += (node['Actual Rows'] as number) * ((node['Actual Loops'] as number) || 1);
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      walk(rows[0]['QUERY PLAN'][0].Plan);
      return read;
    } finally {
      await client.end();
    }
  };

  it('reads at most the page of runs for a count (and two edge days for a range), not the history', async () => {
    const none = { status: false, since: false, until: false, conversation: false };
    const history = await truth(teammate, {});
    expect(history).toBeGreaterThan(300);
    // Counted page of 20 (21 rows read for hasNextPage): no filter, and a status filter.
    expect(await runsRead(apiCallStatement(none, false, true).text, [teammate, org.orgId, 21])).toBeLessThanOrEqual(21);
    expect(
      await runsRead(apiCallStatement({ ...none, status: true }, false, true).text, [teammate, org.orgId, 'FAILED', 21]),
    ).toBeLessThanOrEqual(21);
    // A range of whole days reads no run to count them; a range with partial days reads only those days' runs.
    const whole = await runsRead(apiCallStatement({ ...none, since: true, until: true }, false, true).text, [
      teammate,
      org.orgId,
      at(5),
      at(9),
      21,
    ]);
    expect(whole).toBeLessThanOrEqual(21);
    const partial = await runsRead(apiCallStatement({ ...none, since: true, until: true }, false, true).text, [
      teammate,
      org.orgId,
      at(5.5),
      at(9.5),
      21,
    ]);
    const edges = (await truth(teammate, { since: at(5.5), until: at(6) })) + (await truth(teammate, { since: at(9), until: at(9.5) }));
    expect(partial).toBeLessThanOrEqual(21 + edges);
    expect(partial).toBeLessThan(await truth(teammate, { since: at(5.5), until: at(9.5) }));
  });

  it('the migration counts the runs a database already has', async () => {
    const runner = gw.db.createQueryRunner();
    try {
      // Each in a transaction, as the migration runner runs them.
      const migration = new RequestLogCounts1765800000000();
      await runner.startTransaction();
      await migration.down(runner);
      await runner.commitTransaction();
      // Runs written while nothing counts them, as before the migration.
      await seed(other, 'API', [6.1, 6.2, 7.3, 9.9], (i) => (i % 2 ? 'FAILED' : 'SUCCEEDED'));
      await runner.startTransaction();
      await migration.up(runner);
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    await expectCountsTrue(teammate);
    await expectCountsTrue(other);
    expect(await totalCount(other, {})).toBe(await truth(other, {}));
    const [conversations] = await gw.db.query(
      `SELECT (SELECT count(*) FROM conversations)::int AS rows,
              (SELECT sum(n) FROM (SELECT n FROM conversation_counts UNION ALL SELECT n FROM conversation_count_deltas) AS k)::int AS counted`,
    );
    expect(conversations.rows).toBeGreaterThan(0);
    expect(conversations.counted).toBe(conversations.rows);
    const [trashed] = await gw.db.query(
      `SELECT (SELECT count(*) FROM storage_entries WHERE trashed_at IS NOT NULL)::int AS rows,
              (SELECT sum(n) FROM (SELECT n FROM trash_counts UNION ALL SELECT n FROM trash_count_deltas) AS k)::int AS counted`,
    );
    expect(trashed.rows).toBeGreaterThan(0);
    expect(trashed.counted).toBe(trashed.rows);
  });
});
