import { Client } from 'pg';
import { mustQuery } from '../lib/graphql';
import { assertClean, LoadResult, median, sequential } from '../lib/load';
import { tablesExist, withClient } from '../lib/postgres';
import { REQUEST_LOG_TABLES, seedRequestLogs, STORAGE_TABLES } from '../seed/tables';
import { BenchContext, Figure, fmt, graphqlLoad, NotApplicable } from './figure';
import { createBenchWorkflow, runBacklog } from './workflow-setup';
import type { QueryRunner } from 'typeorm';
import { RequestLogCounts1765800000000 } from '../../src/db/migrations/1765800000000-RequestLogCounts';
import { RunsPartitionedByDay1765900000000 } from '../../src/db/migrations/1765900000000-RunsPartitionedByDay';

/*
 * Costs that grow with history (issue 24): the same operations before and after the database
 * holds 1,000,000 runs of one teammate and 1,000,000 storage entries of the organization, both
 * seeded by SQL. "Before" is the database as the figure finds it: empty when run alone
 * (BENCH_ONLY=history-counts,history); in a full run, after the figures before it.
 */

const RUNS = () => Number(process.env.BENCH_HISTORY_RUNS ?? process.env.BENCH_RUNS ?? 1_000_000);
const ENTRIES = () => Number(process.env.BENCH_HISTORY_ENTRIES ?? 1_000_000);
const CLAIM_RUNS = () => Number(process.env.BENCH_HISTORY_CLAIM_RUNS ?? 2_000);
const WIDE = 10_000;
const DEEP = Array.from({ length: 12 }, (_, i) => `d${String(i + 1).padStart(2, '0')}`);

const TRIGGER = 'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }';
const COUNT = `query Count($id: ID!, $status: WorkflowRunStatus) { teammate(id: $id) { requestLogs(first: 20, status: $status) { totalCount } } }`;
const PAGE = `query Logs($id: ID!, $after: String) {
  teammate(id: $id) { requestLogs(first: 20, after: $after) { totalCount edges { node { id status durationMs createdAt } } pageInfo { hasNextPage endCursor } } }
}`;
const LISTING = `query Listing($path: String!) { folder(path: $path) { children(first: 50) { totalCount edges { node { id name path } } } } }`;
const LOOKUP = `query Lookup($path: String!) { folder(path: $path) { id name path } }`;

interface Before {
  triggerRps: number;
  claimRps: number;
}

interface History {
  before: Before;
  teammateId: string;
  deepCursor: string;
  runs: number;
  entries: number;
  seedSeconds: number;
  sizes: string;
  /** The counts migration run again over the seeded database: seconds, and whether its counts match the runs. */
  migration: { seconds: number; exact: boolean };
  /** The partitioning migration taken down and applied again over it: seconds each way, rows before and after. */
  partitioning: PartitioningRerun;
}

interface PartitioningRerun {
  downSeconds: number;
  upSeconds: number;
  runs: number;
  events: number;
  kept: boolean;
}

/**
 * The partitioning migration as an existing database meets it (issue 24: "tested on a copy with a
 * million runs"): taken down (the runs and events copied back into plain tables) and applied again
 * over the seeded runs and their events, each in one transaction, timed; every run and event must
 * be there after it, each in the partition of its day.
 */
async function rerunPartitioning(db: Client): Promise<PartitioningRerun> {
  const runner = { query: (sql: string) => db.query(sql).then((r) => r.rows) } as unknown as QueryRunner;
  const migration = new RunsPartitionedByDay1765900000000();
  const census = async () =>
    (
      await db.query<{ runs: string; events: string; stray: string }>(
        `SELECT (SELECT count(*) FROM workflow_runs) AS runs, (SELECT count(*) FROM workflow_run_events) AS events,
                (SELECT count(*) FROM workflow_runs WHERE tableoid::regclass::text <> 'workflow_runs_p' || to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD')) AS stray`,
      )
    ).rows[0];
  const before = await census();
  const timed = async (step: () => Promise<void>) => {
    const started = process.hrtime.bigint();
    await db.query('BEGIN');
    await step();
    await db.query('COMMIT');
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const downSeconds = await timed(() => migration.down(runner));
  const upSeconds = await timed(() => migration.up(runner));
  await db.query('ANALYZE workflow_runs, workflow_run_events');
  const after = await census();
  return {
    downSeconds,
    upSeconds,
    runs: Number(after.runs),
    events: Number(after.events),
    kept: before.runs === after.runs && before.events === after.events && after.stray === '0',
  };
}

/**
 * The counts migration as an existing database meets it: taken down and applied again (in one
 * transaction each, as the migration runner does) over the seeded million runs, timed, and its
 * counts compared with a count(*) of the runs.
 */
async function rerunCountsMigration(db: Client, teammateId: string): Promise<{ seconds: number; exact: boolean }> {
  const runner = { query: (sql: string) => db.query(sql) } as unknown as QueryRunner;
  const migration = new RequestLogCounts1765800000000();
  await db.query('BEGIN');
  await migration.down(runner);
  await db.query('COMMIT');
  const started = process.hrtime.bigint();
  await db.query('BEGIN');
  await migration.up(runner);
  await db.query('COMMIT');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM workflow_runs WHERE teammate_id = $1 AND channel = 'API')::bigint AS runs,
            (SELECT sum(n) FROM request_log_counts WHERE teammate_id = $1)::bigint AS counted`,
    [teammateId],
  );
  return { seconds, exact: rows[0].runs === rows[0].counted };
}

/** Runs finished per second by the worker from a backlog of `count` QUEUED runs of a fresh workflow (the claim path). */
async function claimRate(ctx: BenchContext, count: number): Promise<number> {
  const workflowId = await createBenchWorkflow(ctx);
  return withClient(ctx.databaseUrl, async (db) => count / (await runBacklog(db, ctx, workflowId, count)));
}

async function triggerRate(ctx: BenchContext): Promise<number> {
  const workflowId = await createBenchWorkflow(ctx);
  const body = JSON.stringify({ query: TRIGGER, variables: { id: workflowId, payload: { text: 'bench' } } });
  await graphqlLoad(ctx, ctx.gateway.url, body, 1);
  const rounds: LoadResult[] = [];
  for (let i = 0; i < ctx.rounds; i++) rounds.push(await graphqlLoad(ctx, ctx.gateway.url, body));
  assertClean('trigger', rounds);
  return median(rounds.map((r) => r.rps));
}

/** p50 of one GraphQL request sent one after another on one connection, for ctx.duration × ctx.rounds. */
async function p50(
  ctx: BenchContext,
  query: string,
  variables: Record<string, unknown>,
  check: (body: string) => boolean,
): Promise<number> {
  const options = {
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
    body: JSON.stringify({ query, variables }),
    duration: ctx.duration,
    verifyBody: (text: string) => !text.includes('"errors":') && check(text),
  };
  await sequential(`${ctx.gateway.url}/graphql`, { ...options, duration: 1 });
  const rounds: LoadResult[] = [];
  for (let i = 0; i < ctx.rounds; i++) rounds.push(await sequential(`${ctx.gateway.url}/graphql`, options, ctx.gateway));
  assertClean('history', rounds);
  return median(rounds.map((r) => r.p50));
}

/**
 * `/history/wide` with 10,000 files, `/history/d01/…/d12` twelve folders deep, and the rest of
 * the entries as files spread over 100 folders of `/history/bulk`: rows only, in two statements
 * (replica mode skips the foreign-key triggers, as seedRequestLogs does; every id exists).
 */
async function seedEntries(ctx: BenchContext, db: Client, total: number): Promise<void> {
  const folder = async (path: string) =>
    (await mustQuery(ctx.gateway.url, ctx.apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: path })).createFolder
      .id as string;
  const wide = await folder('/history/wide');
  const bulk = await folder('/history/bulk');
  await folder(`/history/${DEEP.join('/')}`);
  await db.query(`SET session_replication_role = replica`);
  const files = `INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)`;
  await db.query(
    `${files}
     SELECT $1::uuid, $2::uuid, 'file', 'f' || lpad(g::text, 6, '0') || '.txt', $1::text || '/' || u, 8, 'text/plain', md5(g::text), replace(u::text, '-', '')
       FROM generate_series(1, $3::int) AS g, LATERAL (SELECT gen_random_uuid() AS u) AS id`,
    [ctx.orgId, wide, WIDE],
  );
  await db.query(
    `WITH dirs AS (
       INSERT INTO storage_entries (organization_id, parent_id, kind, name)
       SELECT $1, $2, 'folder', 'b' || lpad(d::text, 3, '0') FROM generate_series(0, 99) AS d
       RETURNING id, name
     )
     ${files}
     SELECT $1::uuid, dirs.id, 'file', 'f' || lpad(g::text, 7, '0') || '.txt', $1::text || '/' || u, 8, 'text/plain', md5(g::text), replace(u::text, '-', '')
       FROM generate_series(0, $3::int - 1) AS g
       JOIN dirs ON dirs.name = 'b' || lpad((g % 100)::text, 3, '0'),
       LATERAL (SELECT gen_random_uuid() AS u) AS id`,
    [ctx.orgId, bulk, Math.max(total - WIDE - DEEP.length - 3 - 100, 0)],
  );
  await db.query(`SET session_replication_role = DEFAULT`);
  await db.query('ANALYZE storage_entries');
}

/** Sizes of the tables and their indexes, per row, as SCALING.md uses them. */
async function sizes(db: Client): Promise<string> {
  const { rows } = await db.query<{ name: string; rows: string; heap: string; indexes: string }>(
    // A partitioned table's figures are its partitions' sums.
    `SELECT t.name, sum(c.reltuples)::bigint AS rows, sum(pg_table_size(p.relid)) AS heap, sum(pg_indexes_size(p.relid)) AS indexes
       FROM unnest(ARRAY['workflow_runs', 'workflow_run_events', 'storage_entries', 'request_log_counts']) AS t (name)
       CROSS JOIN LATERAL pg_partition_tree(t.name::regclass) AS p JOIN pg_class c ON c.oid = p.relid
      WHERE p.isleaf GROUP BY t.name ORDER BY t.name`,
  );
  return rows
    .map((r) => {
      const n = Math.max(Number(r.rows), 1);
      return `${r.name} ${Number(r.rows).toLocaleString('en-US')} rows, ${fmt.mb(Number(r.heap))} heap + ${fmt.mb(Number(r.indexes))} indexes (${Math.round(Number(r.heap) / n)} + ${Math.round(Number(r.indexes) / n)} bytes per row)`;
    })
    .join('; ');
}

let history: Promise<History> | undefined;

/** Measures the empty-database figures, then seeds; once per bench run, shared by both figures. */
function seeded(ctx: BenchContext): Promise<History> {
  history ??= (async () => {
    const missing = await tablesExist(ctx.databaseUrl, [...REQUEST_LOG_TABLES, ...STORAGE_TABLES]);
    if (missing.length) throw new NotApplicable(`seeding needs tables ${missing.join(', ')}`);
    const before = { triggerRps: await triggerRate(ctx), claimRps: await claimRate(ctx, CLAIM_RUNS()) };
    ctx.log(`history: before seeding, trigger ${fmt.rps(before.triggerRps)}, claim ${Math.round(before.claimRps)} runs/s`);
    const workflowId = await createBenchWorkflow(ctx);
    const { teammateId } = await ctx.cli<{ teammateId: string }>([
      'teammate',
      'create',
      '--org',
      ctx.orgId,
      '--name',
      'history',
      '--workflow',
      workflowId,
      '--channel',
      'API',
    ]);
    const runs = RUNS();
    const entries = ENTRIES();
    const started = Date.now();
    const { deepCursor, table, migration, partitioning } = await withClient(ctx.databaseUrl, async (db) => {
      const { deepCursor } = await seedRequestLogs(db, { orgId: ctx.orgId, workflowId, teammateId, count: runs });
      await seedEntries(ctx, db, entries);
      await db.query('VACUUM ANALYZE workflow_runs');
      const migration = await rerunCountsMigration(db, teammateId);
      await db.query('ANALYZE request_log_counts');
      const partitioning = await rerunPartitioning(db);
      return { deepCursor, table: await sizes(db), migration, partitioning };
    });
    const seedSeconds = (Date.now() - started) / 1000;
    ctx.log(`history: seeded ${runs} runs and ${entries} entries in ${seedSeconds.toFixed(0)} s; ${table}`);
    ctx.log(
      `history: the counts migration over them took ${migration.seconds.toFixed(1)} s; counts ${migration.exact ? 'exact' : 'WRONG'}`,
    );
    ctx.log(
      `history: the partitioning migration over ${partitioning.runs} runs and ${partitioning.events} events: down ${partitioning.downSeconds.toFixed(1)} s, ` +
        `up ${partitioning.upSeconds.toFixed(1)} s; rows ${partitioning.kept ? 'all kept, in day partitions' : 'NOT ALL KEPT'}`,
    );
    return { before, teammateId, deepCursor, runs, entries, seedSeconds, sizes: table, migration, partitioning };
  })();
  return history;
}

/** The acceptance figure: totalCount at 1,000,000 request logs of one teammate. */
export const historyCounts: Figure = {
  id: 'history-counts',
  title: '`requestLogs(first: 20) { totalCount }` at 1,000,000 request logs of one teammate, p50 without and with `status`',
  target: 'p50 < 50 ms',
  requires: ['Query.teammate', 'Teammate.requestLogs', 'RequestLogConnection.totalCount'],
  async run(ctx) {
    const h = await seeded(ctx);
    const total = `"totalCount":${h.runs}`;
    const all = await p50(ctx, COUNT, { id: h.teammateId }, (body) => body.includes(total));
    const byStatus = await p50(ctx, COUNT, { id: h.teammateId, status: 'SUCCEEDED' }, (body) => body.includes(total));
    // What the count cost before request_log_counts: the statement it was, timed in SQL (median of 3).
    const counted = await withClient(ctx.databaseUrl, async (db) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        await db.query(
          `SELECT count(*)::int AS total FROM workflow_runs WHERE teammate_id = $1 AND organization_id = $2 AND channel = 'API'`,
          [h.teammateId, ctx.orgId],
        );
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return median(times);
    });
    return {
      gateway: `${fmt.ms(all)}; status ${fmt.ms(byStatus)}`,
      baseline: '—',
      ratio: '—',
      met: Math.max(all, byStatus) < 50 && h.migration.exact,
      note: `history-counts: ${h.runs.toLocaleString('en-US')} finished API runs of one teammate seeded by SQL (one a second, ${(h.runs / 86400).toFixed(1)} days); every answer checked to carry the full count; read from request_log_counts and its deltas (per status and UTC day), not by counting runs; the count(*) it replaces takes ${fmt.ms(counted)} in SQL alone on the same database. The counts migration (taken down and applied again over these runs, as on an existing database) took ${h.migration.seconds.toFixed(1)} s and its counts ${h.migration.exact ? 'equal' : 'DO NOT equal'} a count(*) of the runs.`,
    };
  },
};

/** Everything else the issue lists, before and after the seeding, and retention of the oldest day. */
export const historyGrowth: Figure = {
  id: 'history',
  title: 'at 1,000,000 runs and 1,000,000 entries: trigger and claim against before seeding; pages, listing, path, a day of retention',
  target: 'trigger and claim ≥ 90% of before; a day deleted < 1 s',
  requires: ['Query.teammate', 'Teammate.requestLogs', 'Query.folder', 'Mutation.triggerWorkflow'],
  async run(ctx) {
    const h = await seeded(ctx);
    const full = (body: string) => body.includes(`"totalCount":${h.runs}`);
    const firstPage = await p50(ctx, PAGE, { id: h.teammateId, after: null }, full);
    const deepPage = await p50(ctx, PAGE, { id: h.teammateId, after: h.deepCursor }, full);
    const listing = await p50(ctx, LISTING, { path: '/history/wide' }, (body) => body.includes(`"totalCount":${WIDE}`));
    const lookup = await p50(ctx, LOOKUP, { path: `/history/${DEEP.join('/')}` }, (body) => body.includes('"name":"d12"'));
    const triggerRps = await triggerRate(ctx);
    const claimRps = await claimRate(ctx, CLAIM_RUNS());
    // Retention of the oldest whole day of runs, as the retention job removes it: the day's
    // partitions dropped (runs and events, in one short transaction), then the row-wise pass over
    // what finished before the cut-off in the next day.
    const retention = await withClient(ctx.databaseUrl, async (db) => {
      const { rows: days } = await db.query<{ runs: string; day: string; cutoff: Date }>(
        `SELECT count(*) AS runs, d.day::text AS day, d.day + interval '1 day 1 minute' AS cutoff
           FROM (SELECT (min(created_at) AT TIME ZONE 'UTC')::date + 1 AS day FROM workflow_runs) AS d
           JOIN workflow_runs r ON r.created_at >= d.day::timestamp AT TIME ZONE 'UTC' AND r.created_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
          GROUP BY d.day`,
      );
      const { day, cutoff } = days[0];
      // The partial first day goes first (untimed), so that the timed drop is a whole day's.
      await db.query(`SELECT alloy_drop_expired_run_partition($1::timestamptz - interval '1 day')`, [cutoff]);
      const started = process.hrtime.bigint();
      await db.query('BEGIN');
      await db.query(`SET LOCAL lock_timeout = '1s'`);
      const { rows: dropped } = await db.query(`SELECT alloy_drop_expired_run_partition($1)::text AS day`, [cutoff]);
      await db.query('COMMIT');
      const dropSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (dropped[0].day !== day) throw new Error(`retention dropped ${dropped[0].day}, not ${day}`);
      const rowWise = process.hrtime.bigint();
      let deleted = 0;
      for (;;) {
        const result = await db.query(
          `DELETE FROM workflow_runs
            WHERE (id, created_at) IN (SELECT id, created_at FROM workflow_runs WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND finished_at < $1
                                        ORDER BY finished_at LIMIT 1000 FOR UPDATE SKIP LOCKED)`,
          [cutoff],
        );
        deleted += result.rowCount ?? 0;
        if ((result.rowCount ?? 0) < 1000) break;
      }
      const rowWiseSeconds = Number(process.hrtime.bigint() - rowWise) / 1e9;
      // What the next (empty) batch reads right after, and the dead tuples left in the runs' partitions.
      const { rows: plan } = await db.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
         SELECT id FROM workflow_runs WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND finished_at < $1 ORDER BY finished_at LIMIT 1000`,
        [cutoff],
      );
      const top = plan[0]['QUERY PLAN'][0].Plan;
      const { rows: dead } = await db.query<{ dead: string }>(
        // Today's partition is left out: the claim figures' own runs leave theirs there, retention none.
        `SELECT COALESCE(sum(n_dead_tup), 0) AS dead FROM pg_stat_user_tables
          WHERE relname LIKE 'workflow_runs_p%' AND relname < 'workflow_runs_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')`,
      );
      return {
        day,
        runs: Number(days[0].runs),
        dropSeconds,
        deleted,
        rowWiseSeconds,
        buffers: (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0),
        dead: Number(dead[0].dead),
      };
    });
    const claimAfterRetention = await claimRate(ctx, CLAIM_RUNS());
    const triggerRatio = triggerRps / h.before.triggerRps;
    const claimRatio = claimRps / h.before.claimRps;
    return {
      gateway:
        `trigger ${fmt.rps(triggerRps)}, claim ${Math.round(claimRps)} runs/s; first page ${fmt.ms(firstPage)}, deep ${fmt.ms(deepPage)}; ` +
        `listing ${fmt.ms(listing)}, path ${fmt.ms(lookup)}; a day (${retention.runs.toLocaleString('en-US')} runs) dropped in ${retention.dropSeconds.toFixed(3)} s`,
      baseline: `before seeding: trigger ${fmt.rps(h.before.triggerRps)}, claim ${Math.round(h.before.claimRps)} runs/s`,
      ratio: `trigger ${fmt.pct(triggerRatio)}, claim ${fmt.pct(claimRatio)}`,
      met: triggerRatio >= 0.9 && claimRatio >= 0.9 && retention.dropSeconds < 1 && h.partitioning.kept,
      note:
        `history: ${h.runs.toLocaleString('en-US')} runs and ${h.entries.toLocaleString('en-US')} entries seeded by SQL in ${h.seedSeconds.toFixed(0)} s (then VACUUM ANALYZE); ` +
        `pages of 20 request logs with totalCount (deep: the last page); listing: the first 50 of a 10,000-file folder with totalCount; path: a folder 12 deep (/history/d01/…/d12); ` +
        `claim: ${CLAIM_RUNS().toLocaleString('en-US')} QUEUED runs drained by the one worker; retention: the oldest whole day (${retention.day}) dropped as the retention job does ` +
        `(its runs' and events' partitions, one transaction), then the row-wise pass over the next day's first minute (${retention.deleted} runs, ${retention.rowWiseSeconds.toFixed(2)} s); ` +
        `after it an empty retention batch read ${retention.buffers.toLocaleString('en-US')} buffers, the partitions of past days held ${retention.dead.toLocaleString('en-US')} dead tuples, and the claim ran at ${Math.round(claimAfterRetention)} runs/s. ` +
        `The partitioning migration over the seeded ${h.partitioning.runs.toLocaleString('en-US')} runs and ${h.partitioning.events.toLocaleString('en-US')} events (taken down, then applied again, one transaction each): ` +
        `down ${h.partitioning.downSeconds.toFixed(1)} s, up ${h.partitioning.upSeconds.toFixed(1)} s, ${h.partitioning.kept ? 'every run and event kept, in day partitions' : 'ROWS LOST OR IN THE WRONG PARTITION'}. ` +
        `Sizes: ${h.sizes}.`,
    };
  },
};
