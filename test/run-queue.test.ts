import { startBackgroundWork, BackgroundTask } from '../src/app/background';
import { declaredStatement } from '../src/db/statements';
import { createLogger } from '../src/observability/logger';
import { RunExecutor } from '../src/workflows/run-executor';
import { deleteExpiredRuns } from '../src/workflows/run-retention';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';

const TRIGGER = `mutation($workflowId: ID!, $payload: JSON) { triggerWorkflow(workflowId: $workflowId, payload: $payload) { runId } }`;

/** The run row is the queue: claims, concurrency between workers, and retention of finished runs. */
describe('workflow runs: the run table as the queue', () => {
  let hooks: HookServer;
  const { gw, org } = useGatewayWithOrg({ background: false, env: { RUN_RETENTION_DAYS: '30' }, orgName: 'Queue Org' });

  beforeAll(async () => {
    hooks = await startHookServer();
  });
  afterAll(() => hooks?.close());

  it('two workers share the queue and never run the same step of a run twice', async () => {
    // Each step answers after a short while, so that both workers hold runs at once.
    const calls = new Map<string, number>();
    let running = 0;
    let overlapSeen = 0;
    hooks.route('/count', async ({ body }) => {
      calls.set(body.run.id, (calls.get(body.run.id) ?? 0) + 1);
      running++;
      overlapSeen = Math.max(overlapSeen, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return { status: 200, body: { ok: true } };
    });
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'count',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/count`, next: 'done' }, done: { type: 'transform', output: 'ok' } },
    });
    const logger = createLogger('silent');
    const workers = [0, 1].map(
      () => new RunExecutor(gw.db, gw.services.runEvents, logger, { announcer: gw.services.runAnnouncer, leaseMs: 5000, concurrency: 4 }),
    );
    for (const worker of workers) await worker.start();
    try {
      const runIds: string[] = [];
      for (let i = 0; i < 60; i++) {
        const res = await graphql(gw.url, TRIGGER, { workflowId: workflow.id, payload: { i } }, { apiKey: org.apiKey });
        runIds.push(res.body.data.triggerWorkflow.runId);
      }
      await waitFor(
        async () =>
          (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE status = 'SUCCEEDED' AND id = ANY($1)`, [runIds]))[0].n,
        (n) => n === runIds.length,
        60_000,
        'every run to succeed',
      );
      expect(runIds.map((id) => calls.get(id))).toEqual(runIds.map(() => 1));
      // More than one worker's slots were in use at once (4 per worker).
      expect(overlapSeen).toBeGreaterThan(1);
      const [{ leased }] = await gw.db.query(`SELECT count(*)::int AS leased FROM workflow_runs WHERE lease_token IS NOT NULL`);
      expect(leased).toBe(0);
    } finally {
      for (const worker of workers) await worker.stop();
    }
  });

  it('claims a queued run as soon as it is announced, without waiting for the poll', async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'quick',
      startStep: 's',
      steps: { s: { type: 'transform', output: '{{payload.n}}' } },
    });
    // A poll of a minute: only the notification can wake this worker in time.
    const worker = new RunExecutor(gw.db, gw.services.runEvents, createLogger('silent'), {
      announcer: gw.services.runAnnouncer,
      leaseMs: 5000,
      concurrency: 1,
      pollMs: 60_000,
    });
    await worker.start();
    try {
      await new Promise((r) => setTimeout(r, 300)); // the first, empty claim is over and the worker idles
      const res = await graphql(gw.url, TRIGGER, { workflowId: workflow.id, payload: { n: 5 } }, { apiKey: org.apiKey });
      const runId = res.body.data.triggerWorkflow.runId;
      const run = await waitFor(
        async () => (await gw.db.query(`SELECT status, output FROM workflow_runs WHERE id = $1`, [runId]))[0],
        (r) => r.status === 'SUCCEEDED',
        10_000,
        'the run to succeed',
      );
      expect(run.output).toBe(5);
    } finally {
      await worker.stop();
    }
  });

  it('deletes finished runs past RUN_RETENTION_DAYS with their request logs and keys, and nothing else', async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'old',
      startStep: 's',
      steps: { s: { type: 'transform', output: 1 } },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, {
      name: 'Old Mate',
      workflowId: workflow.id,
      channels: ['API'],
    });
    // Runs are partitioned by day: the old days seeded here get theirs.
    await gw.db.query(`SELECT alloy_create_run_partitions(current_date - 45, current_date)`);
    const insert = (status: string, daysAgo: number, count: number, channel = 'TRIGGER') =>
      gw.db.query(
        `WITH made AS (
           INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, created_at, finished_at)
           SELECT gen_random_uuid(), $1, $2, 1, $3, $4, $5, now() - make_interval(days => $6 + 1), CASE WHEN $5 IN ('SUCCEEDED', 'FAILED') THEN now() - make_interval(days => $6) END
             FROM generate_series(1, $7)
           RETURNING id, created_at)
         INSERT INTO workflow_idempotency_keys (organization_id, key, run_id, request_hash, expires_at)
         SELECT $1, 'k-' || id, id, 'h', created_at + interval '1 day' FROM made`,
        [org.orgId, workflow.id, channel === 'API' ? teammate.id : null, channel, status, daysAgo, count],
      );
    await insert('SUCCEEDED', 40, 1500);
    await insert('FAILED', 31, 600, 'API');
    await insert('SUCCEEDED', 29, 7); // within the 30 days
    await insert('QUEUED', 40, 3); // old but not finished
    await insert('RUNNING', 40, 2);
    const census = async () =>
      (
        await gw.db.query(`SELECT status, count(*)::int AS n FROM workflow_runs WHERE workflow_id = $1 GROUP BY status ORDER BY status`, [
          workflow.id,
        ])
      ).map((r: { status: string; n: number }) => `${r.status}:${r.n}`);
    expect(await census()).toEqual(['FAILED:600', 'QUEUED:3', 'RUNNING:2', 'SUCCEEDED:1507']);

    // 0 keeps everything.
    expect(await deleteExpiredRuns(gw.db, 0)).toEqual({ droppedDays: [], deleted: 0 });

    // The process's job runner sends the retention job at start; a worker process handles it.
    const tasks: BackgroundTask[] = await startBackgroundWork(gw.services, createLogger('silent'), { workflows: false });
    try {
      await waitFor(census, (c) => c.join() === 'QUEUED:3,RUNNING:2,SUCCEEDED:7', 60_000, 'the expired runs to go');
    } finally {
      for (const task of tasks.reverse()) await task.stop();
    }
    const [{ keys }] = await gw.db.query(
      `SELECT count(*)::int AS keys FROM workflow_idempotency_keys k JOIN workflow_runs r ON r.id = k.run_id WHERE r.workflow_id = $1`,
      [workflow.id],
    );
    // No live key outlived its run: runs deleted row by row take theirs along; the keys of a day
    // dropped whole had expired (a key lasts a day, a dropped day is older) and the sweep removes them.
    const [{ live }] = await gw.db.query(
      `SELECT count(*)::int AS live FROM workflow_idempotency_keys k
        WHERE key LIKE 'k-%' AND expires_at > now() AND NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = k.run_id)`,
    );
    expect(live).toBe(0);
    expect(keys).toBe(12);
    const logs = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          teammate(id: $id) {
            requestLogs(first: 5) {
              totalCount
            }
          }
        }
      `,
      { id: teammate.id },
      { apiKey: org.apiKey },
    );
    expect(logs.body.data.teammate.requestLogs.totalCount).toBe(0);
  });

  it('a lease renewal locks its runs in id order, as appends and finishes do: it never holds a later run while it waits for an earlier one', async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'held',
      startStep: 'a',
      steps: { a: { type: 'transform', output: 1 } },
    });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push(
        (await gw.services.workflows.startRun({ organizationId: org.orgId, workflowId: workflow.id, payload: null, channel: 'TRIGGER' }))
          .id,
      );
    }
    ids.sort();
    const [first, second] = ids;
    // Both held by one worker (token = id, for the test).
    await gw.db.query(
      `UPDATE workflow_runs SET status = 'RUNNING', lease_token = id, lease_until = now() + interval '1 minute' WHERE id = ANY ($1::uuid[])`,
      [ids],
    );
    const pool = (gw.db.driver as unknown as { master: { connect(): Promise<any> } }).master;
    const [holder, renewer, prober] = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    try {
      // Another statement (an append, a cancel) holds the first run.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM workflow_runs WHERE id = $1 FOR UPDATE', [first]);
      // The renewal lists the later run first, and its plan visits the runs in that order (as a
      // nested loop over the ids does); it waits for the first one…
      await renewer.query('SET enable_hashjoin = off');
      await renewer.query('SET enable_mergejoin = off');
      const renewal = renewer.query(declaredStatement('workflows.renew-leases').text, [[second, first], [second, first], 30]);
      await waitFor(
        async () =>
          (
            await prober.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%lease_until = now()%'`,
            )
          ).rows[0].n,
        (n) => n === 1,
        10_000,
        'the renewal to wait for the first run',
      );
      // …without holding the later one meanwhile: whoever locks runs in id order can go on.
      await prober.query('BEGIN');
      await expect(prober.query('SELECT 1 FROM workflow_runs WHERE id = $1 FOR UPDATE NOWAIT', [second])).resolves.toBeDefined();
      await prober.query('ROLLBACK');
      await holder.query('COMMIT');
      expect((await renewal).rows.map((r: { id: string }) => r.id).sort()).toEqual(ids);
    } finally {
      await renewer.query('RESET ALL');
      for (const client of [holder, renewer, prober]) client.release();
    }
  });
});
