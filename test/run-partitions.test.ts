import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { declaredStatement, statement, StatementRunner } from '../src/db/statements';
import { apiCallStatement } from '../src/teammates/teammate.service';
import { createRunPartitions } from '../src/workflows/run-partitions';
import { deleteExpiredRuns } from '../src/workflows/run-retention';

/*
 * Runs and run events partitioned by day (migration 1765900000000): a database at the schema
 * before it, with runs of every kind, migrated up keeps every run readable with its events and
 * every count; the migration goes down again; lookups of one run read one partition in the
 * prepared (generic) plans the gateway runs; partitions are made ahead and dropped whole by
 * retention, but not while they hold an active run.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON, $key: String) { triggerWorkflow(workflowId: $id, payload: $payload, idempotencyKey: $key) { runId } }`;
const CALL = `mutation($id: ID!, $input: JSON!, $conversationId: ID) {
  callTeammate(teammateId: $id, input: $input, conversationId: $conversationId) { runId run { conversation { id } } }
}`;
const RERUN = `mutation($id: ID!) { rerunWorkflowRun(id: $id) { runId } }`;
const RUN = `query($id: ID!) {
  workflowRun(id: $id) {
    id status payload output createdAt rerunOf { id }
    events(first: 100) { totalCount edges { node { seq type step data } } }
  }
}`;
const LOGS = `query($id: ID!) { teammate(id: $id) { requestLogs(first: 20) { totalCount } conversations(first: 5) { totalCount } } }`;

type RunView = { id: string; status: string; payload: unknown; output: unknown; createdAt: string; rerunOf: { id: string } | null };

describe('runs partitioned by day', () => {
  const { gw, org } = useGatewayWithOrg({ orgName: 'Partitions', background: false });
  let workflowId: string;
  let teammateId: string;

  const ask = async (query: string, variables: Record<string, unknown>) => {
    const res = await graphql(gw.url, query, variables, { apiKey: org.apiKey });
    return res.body as { data: Record<string, any>; errors?: { extensions: { code: string } }[] };
  };
  const readRun = async (id: string) => {
    const body = await ask(RUN, { id });
    expect(body.errors).toBeUndefined();
    return body.data.workflowRun as (RunView & { events: { totalCount: number; edges: unknown[] } }) | null;
  };
  const relkind = async (table: string) =>
    (await gw.db.query(`SELECT relkind FROM pg_class WHERE relname = $1`, [table]))[0]?.relkind as string | undefined;

  beforeAll(async () => {
    ({
      workflow: { id: workflowId },
    } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'echo',
      startStep: 'reply',
      steps: { reply: { type: 'transform', output: { reply: '{{payload.message}}' } } },
    }));
    teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Partitioned', workflowId, channels: ['API'] })).id;
  });

  it('keeps every run readable with its events and counts through the migration, down and up again', async () => {
    // Made through the API on the partitioned schema: a keyed run, its rerun, a conversation whose turn is still QUEUED (no worker here).
    const keyed = (await ask(TRIGGER, { id: workflowId, payload: { n: 1 }, key: 'key-1' })).data.triggerWorkflow.runId as string;
    const rerun = (await ask(RERUN, { id: keyed })).data.rerunWorkflowRun.runId as string;
    const call = (await ask(CALL, { id: teammateId, input: { message: 'hi' } })).data.callTeammate;
    const conversationId = call.run.conversation.id as string;

    // Down: the tables as they were before partitioning, rows copied back (the migrations after it undone first).
    const lastApplied = async () => (await gw.db.query(`SELECT name FROM typeorm_migrations ORDER BY id DESC LIMIT 1`))[0].name as string;
    while ((await lastApplied()) !== 'RunsPartitionedByDay1765900000000') await gw.db.undoLastMigration({ transaction: 'each' });
    await gw.db.undoLastMigration({ transaction: 'each' });
    expect(await relkind('workflow_runs')).toBe('r');
    expect(await relkind('workflow_run_events')).toBe('r');

    // What only a database of the earlier schema has: random (v4) ids of days ago, finished with
    // events, API calls of the teammate among them; and v7 ids whose created_at came from the
    // database clock (a few milliseconds off their id time), one of them a rerun of a v4 run.
    const legacy = (
      await gw.db.query(
        `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload, output,
                                    created_at, started_at, finished_at)
         SELECT gen_random_uuid(), $1, $2, 1, CASE WHEN d % 2 = 0 THEN $3::uuid END, CASE WHEN d % 2 = 0 THEN 'API' ELSE 'TRIGGER' END,
                'SUCCEEDED', json_build_object('day', d), json_build_object('done', d),
                now() - make_interval(days => d), now() - make_interval(days => d), now() - make_interval(days => d) + interval '1 second'
           FROM generate_series(1, 4) AS d
         RETURNING id`,
        [org.orgId, workflowId, teammateId],
      )
    ).map((r: { id: string }) => r.id);
    await gw.db.query(
      `INSERT INTO workflow_run_events (run_id, seq, type, step, data)
       SELECT id, 2, 'STEP_STARTED', 'reply', NULL FROM workflow_runs WHERE id = ANY ($1::uuid[])`,
      [legacy],
    );
    const clocked = (
      await gw.db.query(
        `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, channel, status, payload, rerun_of, created_at)
         SELECT uuid_v7(), $1, $2, 1, 'TRIGGER', 'QUEUED', json_build_object('clocked', g), CASE WHEN g = 1 THEN $3::uuid END,
                now() - make_interval(secs => g * 0.007)
           FROM generate_series(1, 3) AS g
         RETURNING id`,
        [org.orgId, workflowId, legacy[0]],
      )
    ).map((r: { id: string }) => r.id);

    const everyRun = [keyed, rerun, call.runId, ...legacy, ...clocked];
    // The rows as they are (the gateway's statements need the partitioned schema, so they are read in SQL here).
    const snapshot = async () => {
      const [row] = await gw.db.query(
        `SELECT (SELECT json_agg(r ORDER BY r.id) FROM workflow_runs r) AS runs,
                (SELECT json_agg(json_build_array(e.run_id, e.seq, e.type, e.step, e.data, e.at) ORDER BY e.run_id, e.seq)
                   FROM workflow_run_events e) AS events,
                (SELECT json_agg(k ORDER BY k.key) FROM workflow_idempotency_keys k) AS keys,
                (SELECT count(*) FROM workflow_runs WHERE teammate_id = $1 AND channel = 'API')::int AS logs`,
        [teammateId],
      );
      return row;
    };
    const before = await snapshot();
    expect(before.runs).toHaveLength(everyRun.length);
    expect(before.logs).toBe(3);

    // Up: partitioned again, with the rows above in it.
    await gw.db.runMigrations({ transaction: 'each' });
    expect(await relkind('workflow_runs')).toBe('p');
    expect(await relkind('workflow_run_events')).toBe('p');
    expect(await snapshot()).toEqual(before);

    // Each run read through the gateway, with its events.
    const eventsOf = (id: string) => (before.events as unknown[][]).filter((e) => e[0] === id).length;
    for (const id of everyRun) {
      const run = await readRun(id);
      expect(run).toMatchObject({ id, events: { totalCount: eventsOf(id) } });
    }
    expect((await readRun(clocked[0]))!.rerunOf).toEqual({ id: legacy[0] });
    expect((await readRun(rerun))!.rerunOf).toEqual({ id: keyed });
    expect((await readRun(legacy[1]))!.events).toEqual({
      totalCount: 2,
      edges: [
        { node: { seq: 1, type: 'STATUS', step: null, data: 'SUCCEEDED' } },
        { node: { seq: 2, type: 'STEP_STARTED', step: 'reply', data: null } },
      ],
    });
    expect((await ask(LOGS, { id: teammateId })).data.teammate).toEqual({
      requestLogs: { totalCount: 3 },
      conversations: { totalCount: 1 },
    });
    // Every run is in the day partition of its creation day.
    const placed = await gw.db.query(
      `SELECT tableoid::regclass::text AS part, to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD') AS day FROM workflow_runs WHERE id = ANY ($1::uuid[])`,
      [everyRun],
    );
    for (const { part, day } of placed) expect(part).toBe(`workflow_runs_p${day}`);

    // The idempotency key still names its run; the conversation is still busy with its queued turn.
    expect((await ask(TRIGGER, { id: workflowId, payload: { n: 1 }, key: 'key-1' })).data.triggerWorkflow.runId).toBe(keyed);
    const busy = await ask(CALL, { id: teammateId, input: { message: 'again' }, conversationId });
    expect(busy.errors?.[0].extensions.code).toBe('CONVERSATION_BUSY');
    // Once the turn is final, the conversation takes the next one.
    await gw.services.workflows.cancelRun(org.orgId, call.runId);
    const next = await ask(CALL, { id: teammateId, input: { message: 'again' }, conversationId });
    expect(next.errors).toBeUndefined();

    // New runs: created_at is the id's time exactly.
    const fresh = (await ask(TRIGGER, { id: workflowId, payload: { n: 2 } })).data.triggerWorkflow.runId as string;
    const [exact] = await gw.db.query(`SELECT created_at = run_id_time(id) AS exact FROM workflow_runs WHERE id = $1`, [fresh]);
    expect(exact.exact).toBe(true);
  });

  it('reads one partition for a lookup of one run, in the generic plans of the prepared statements', async () => {
    const runId = (await ask(TRIGGER, { id: workflowId, payload: { n: 3 } })).data.triggerWorkflow.runId as string;
    const [{ n: partitions }] = await gw.db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'workflow_runs'::regclass`);
    expect(partitions).toBeGreaterThan(5);
    const lookups: [string, unknown[]][] = [
      ['workflows.run', [runId, org.orgId]],
      ['workflows.run-events-page', [runId, 0, 10, org.orgId]],
      ['workflows.run-events-count', [runId]],
      ['workflows.callback-run', [runId]],
      ['workflows.save-progress', [runId, runId, '{}', 'x']],
      [
        'workflows.finish-runs',
        [[runId], [runId], ['SUCCEEDED'], ['1'], ['e'], ['null'], [1], [runId], [1], ['OUTPUT'], ['s'], ['1'], 0, 30],
      ],
      ['workflows.cancel-run', [runId, org.orgId]],
      ['workflows.renew-leases', [[runId], [runId], 30]],
      ['workflows.lost-leases', [[runId], [runId]]],
      ['workflows.read-watched-runs', [[runId]]],
      ['workflows.append-run-events', [[runId], [runId], [1], [runId], [1], ['OUTPUT'], ['s'], ['1']]],
    ];
    const client = await (gw.db.driver as unknown as { master: { connect(): Promise<any> } }).master.connect();
    try {
      await client.query(`BEGIN`);
      await client.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      for (const [name, values] of lookups) {
        const { text } = declaredStatement(name);
        await client.query(`PREPARE lookup AS ${text}`);
        const params = values.map((v) => (v === null ? 'NULL' : Array.isArray(v) ? `'{${v.join(',')}}'` : `'${String(v)}'`));
        // ANALYZE runs it (in this transaction, rolled back): the partitions it reads are the scans
        // executed. (An UPDATE's plan names every partition as a target, but runs only these.)
        const plan = (await client.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE lookup(${params.join(', ')})`)).rows
          .map((r: Record<string, string>) => r['QUERY PLAN'])
          .join('\n');
        const scanned = new Set(
          plan
            .split('\n')
            .filter((line: string) => / Scan (.* )?on workflow_run(s|_events)_p\d{8}\b/.test(line) && !line.includes('never executed'))
            .map((line: string) => /(workflow_run(?:s|_events)_p\d{8})/.exec(line)![1].replace(/^workflow_run(s|_events)_/, '')),
        );
        if (process.env.SHOW_PLANS) console.log(name, plan);
        expect({ name, scanned: [...scanned] }).toEqual({ name, scanned: [`p${dayOf(runId)}`] });
        await client.query(`DEALLOCATE lookup`);
      }
    } finally {
      await client.query(`ROLLBACK`);
      client.release();
    }
  });

  it('runs the statements over every partition (request-log pages, the claim) with their generic plan', async () => {
    const sql = new StatementRunner(gw.db);
    const page = apiCallStatement({ status: false, since: false, until: false, conversation: false }, false, true);
    expect(page.genericPlan).toBe(true);
    const plans = statement(
      'test.prepared-plans',
      `SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1`,
    );
    const counted = await sql.transaction(async (tx) => {
      await sql.run(page, [teammateId, org.orgId, 21], tx);
      const before = await sql.first<{ generic: number; custom: number }>(plans, [page.name], tx);
      for (let i = 0; i < 6; i++) await sql.run(page, [teammateId, org.orgId, 21], tx);
      const after = await sql.first<{ generic: number; custom: number }>(plans, [page.name], tx);
      return { generic: after!.generic - before!.generic, custom: after!.custom - before!.custom };
    });
    // Planned once for all six calls, never per call (which ~100 day partitions make costly).
    expect(counted).toEqual({ generic: 6, custom: 0 });
  });

  it('makes partitions ahead, and drops expired days whole unless a run there is still active', async () => {
    const ahead = new Date(Date.now() + 9 * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    expect(await createRunPartitions(gw.db, 9)).toBeGreaterThan(0);
    expect(await relkind(`workflow_runs_p${ahead}`)).toBe('r');
    expect(await createRunPartitions(gw.db, 9)).toBe(0);

    // Two old days: one all finished, one with a run still QUEUED.
    const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
    await gw.db.query(`SELECT alloy_create_run_partitions($1::date, $2::date)`, [day(40), day(39)]);
    const seed = (n: number, status: string) =>
      gw.db.query(
        `INSERT INTO workflow_runs (id, created_at, organization_id, workflow_id, workflow_version, teammate_id, channel, status, finished_at)
         SELECT uuid_v7_at(t), t, $1, $2, 1, $3, 'API', $4, CASE WHEN $4 <> 'QUEUED' THEN t + interval '1 minute' END
           FROM generate_series(1, 5) AS g, LATERAL (SELECT date_trunc('milliseconds', $5::timestamptz + make_interval(mins => g)) AS t) AS at`,
        [org.orgId, workflowId, teammateId, status, `${day(n)}T06:00:00Z`],
      );
    await seed(40, 'SUCCEEDED');
    await seed(39, 'SUCCEEDED');
    await seed(39, 'QUEUED');
    const logs = async () => (await ask(LOGS, { id: teammateId })).data.teammate.requestLogs.totalCount as number;
    const total = await logs();

    const removed = await deleteExpiredRuns(gw.db, 30);
    expect(removed).toEqual({ droppedDays: [day(40)], deleted: 5 });
    expect(await relkind(`workflow_runs_p${day(40).replace(/-/g, '')}`)).toBeUndefined();
    expect(await relkind(`workflow_run_events_p${day(40).replace(/-/g, '')}`)).toBeUndefined();
    // The busy day keeps its active runs; its finished ones went row by row, with their events.
    expect(await relkind(`workflow_runs_p${day(39).replace(/-/g, '')}`)).toBe('r');
    const [left] = await gw.db.query(
      `SELECT (SELECT count(*) FROM workflow_runs WHERE created_at >= $1 AND created_at < $2)::int AS runs,
              (SELECT count(*) FROM workflow_run_events WHERE run_created_at >= $1 AND run_created_at < $2)::int AS events`,
      [`${day(39)}T00:00:00Z`, `${day(38)}T00:00:00Z`],
    );
    expect(left).toEqual({ runs: 5, events: 5 });
    expect(await logs()).toBe(total - 10);

    // Once they are finished and aged, the day goes whole too.
    await gw.db.query(
      `UPDATE workflow_runs SET status = 'SUCCEEDED', finished_at = created_at + interval '1 minute'
        WHERE created_at >= $1 AND created_at < $2`,
      [`${day(39)}T00:00:00Z`, `${day(38)}T00:00:00Z`],
    );
    expect(await deleteExpiredRuns(gw.db, 30)).toEqual({ droppedDays: [day(39)], deleted: 0 });
    expect(await logs()).toBe(total - 15);
  });
});

/** The UTC day of a v7 id's time, as partitions are named: YYYYMMDD. */
function dayOf(id: string): string {
  return new Date(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toISOString().slice(0, 10).replace(/-/g, '');
}
