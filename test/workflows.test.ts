import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor, nextMillisecond } from './support/poll';
import { RunExecutor } from '../src/workflows/run-executor';
import { RunStateMachine } from '../src/workflows/run-state';
import { createLogger } from '../src/observability/logger';

const TRIGGER = `mutation($workflowId: ID!, $payload: JSON, $key: String) {
  triggerWorkflow(workflowId: $workflowId, payload: $payload, idempotencyKey: $key) {
    runId
    run { id status payload workflow { id name } }
  }
}`;
const RUN = `query($id: ID!) {
  workflowRun(id: $id) { id status output error payload steps createdAt startedAt finishedAt workflow { id name startStep startable } }
}`;

describe('workflows: triggerWorkflow and the run executor', () => {
  let hooks: HookServer;
  let executor: RunExecutor;
  // The executor is started by the test rather than by the gateway, so that one test can stop it mid-step.
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Workflows Org', beforeClose: () => executor?.stop() });
  const startExecutor = async () => {
    const started = new RunExecutor(gw.db, gw.services.runEvents, createLogger('silent'), {
      announcer: gw.services.runAnnouncer,
      leaseMs: 3000,
      concurrency: 2,
    });
    await started.start();
    return started;
  };

  const createWorkflow = async (definition: unknown, orgId = org.orgId) =>
    (await gw.services.workflows.createWorkflow(orgId, definition)).workflow.id;
  const trigger = (workflowId: string, payload?: unknown, key?: string, apiKey = org.apiKey) =>
    graphql(gw.url, TRIGGER, { workflowId, payload, key }, { apiKey });
  const readRun = async (id: string, apiKey = org.apiKey) => (await graphql(gw.url, RUN, { id }, { apiKey })).body.data?.workflowRun;
  const finished = (id: string) =>
    waitFor(
      () => readRun(id),
      (run) => run?.status === 'SUCCEEDED' || run?.status === 'FAILED',
      30_000,
      `run ${id} to finish`,
    );
  const counts = async () => {
    const [row] = await gw.db.query(`SELECT
      (SELECT count(*)::int FROM workflow_runs) AS runs,
      (SELECT count(*)::int FROM workflow_idempotency_keys) AS keys`);
    return row as { runs: number; keys: number };
  };

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/echo', ({ body }) => ({ status: 200, body: { greeting: `hello ${body.payload.name}`, sawRun: body.run.id } }));
    hooks.route('/broken', () => ({ status: 503, body: { error: 'maintenance' } }));
    executor = await startExecutor();
  });
  afterAll(() => hooks?.close());

  it('runs http then transform steps and reaches SUCCEEDED with the templated output', async () => {
    const workflowId = await createWorkflow({
      name: 'greet',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/echo`, next: 'shape', timeoutMs: 5000 },
        shape: {
          type: 'transform',
          output: {
            text: '{{steps.call.output.greeting}}',
            count: '{{payload.count}}',
            line: 'n={{payload.count}}',
            missing: '{{payload.nope}}',
          },
        },
      },
    });
    const res = await trigger(workflowId, { name: 'Ada', count: 3 });
    expect(res.body.errors).toBeUndefined();
    const { runId, run } = res.body.data.triggerWorkflow;
    expect(run).toEqual({ id: runId, status: 'QUEUED', payload: { name: 'Ada', count: 3 }, workflow: { id: workflowId, name: 'greet' } });

    const done = await finished(runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.error).toBeNull();
    expect(done.output).toEqual({ text: 'hello Ada', count: 3, line: 'n=3', missing: null });
    expect(done.steps.call).toMatchObject({ type: 'http', status: 200, output: { greeting: 'hello Ada', sawRun: runId } });
    expect(new Date(done.startedAt).getTime()).toBeGreaterThanOrEqual(new Date(done.createdAt).getTime());
    expect(new Date(done.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(done.startedAt).getTime());
    expect(done.workflow).toEqual({ id: workflowId, name: 'greet', startStep: 'call', startable: true });

    // The target got the run's context as JSON, with a per-step idempotency key.
    const hook = hooks.received.find((h) => h.body?.run?.id === runId)!;
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['idempotency-key']).toBe(`${runId}:call`);
    expect(hook.body).toEqual({ run: { id: runId, workflowId }, payload: { name: 'Ada', count: 3 }, steps: {} });
  });

  it('fails the run with the error when the http target answers non-2xx, and does not run later steps', async () => {
    const workflowId = await createWorkflow({
      name: 'broken',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/broken`, next: 'after' }, after: { type: 'transform', output: 'never' } },
    });
    const { runId } = (await trigger(workflowId, { a: 1 })).body.data.triggerWorkflow;
    const done = await finished(runId);
    expect(done.status).toBe('FAILED');
    expect(done.output).toBeNull();
    expect(done.error).toContain('answered HTTP 503');
    expect(done.error).toContain('maintenance');
    expect(done.steps.call).toMatchObject({ status: 503, output: { error: 'maintenance' } });
    expect(done.steps.after).toBeUndefined();
    expect(done.finishedAt).not.toBeNull();
  });

  it('fails the run when the target does not answer within timeoutMs, or cannot be reached', async () => {
    hooks.route('/hang', () => new Promise(() => {}));
    const hanging = await createWorkflow({
      name: 'hang',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/hang`, timeoutMs: 300 } },
    });
    const gone = await startHookServer();
    await gone.close(); // its port now refuses connections
    const closed = await createWorkflow({
      name: 'closed',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${gone.url}/nothing` } },
    });
    const [a, b] = await Promise.all([trigger(hanging, {}), trigger(closed, {})]);
    const hangRun = await finished(a.body.data.triggerWorkflow.runId);
    expect(hangRun.status).toBe('FAILED');
    expect(hangRun.error).toContain('timed out after 300 ms');
    const closedRun = await finished(b.body.data.triggerWorkflow.runId);
    expect(closedRun.status).toBe('FAILED');
    expect(closedRun.error).toContain('ECONNREFUSED');
  });

  it('refuses a missing, foreign or malformed workflow id with WORKFLOW_NOT_FOUND and creates nothing', async () => {
    const other = await gw.createOrg('Other');
    const foreign = await createWorkflow({ name: 'theirs', startStep: 's', steps: { s: { type: 'transform', output: 1 } } }, other.orgId);
    const before = await counts();
    for (const id of [foreign, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await trigger(id, { x: 1 }, `key-${id}`);
      expect(errorCode(res)).toBe('WORKFLOW_NOT_FOUND');
      expect(res.body.data).toBeNull();
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses a workflow without a valid startStep with WORKFLOW_NOT_STARTABLE and creates nothing', async () => {
    const noStart = await createWorkflow({ name: 'no start', steps: { s: { type: 'transform', output: 1 } } });
    const wrongStart = await createWorkflow({ name: 'wrong start', startStep: 'nope', steps: { s: { type: 'transform', output: 1 } } });
    const wf = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          workflow(id: $id) {
            id
            startStep
            startable
          }
        }
      `,
      { id: wrongStart },
      { apiKey: org.apiKey },
    );
    expect(wf.body.data.workflow).toEqual({ id: wrongStart, startStep: null, startable: false });
    const before = await counts();
    for (const id of [noStart, wrongStart]) {
      const res = await trigger(id, { x: 1 }, `key-${id}`);
      expect(errorCode(res)).toBe('WORKFLOW_NOT_STARTABLE');
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses a payload over 1 MB with BAD_USER_INPUT and creates nothing', async () => {
    const workflowId = await createWorkflow({ name: 'big', startStep: 's', steps: { s: { type: 'transform', output: 1 } } });
    const before = await counts();
    const res = await trigger(workflowId, { blob: 'x'.repeat(1024 * 1024) });
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].message).toMatch(/1 MB/);
    expect(await counts()).toEqual(before);
  });

  it('gives 50 concurrent triggers with one idempotency key one run', async () => {
    const workflowId = await createWorkflow({ name: 'once', startStep: 's', steps: { s: { type: 'transform', output: '{{payload.n}}' } } });
    const before = await counts();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => trigger(workflowId, { n: 7, nested: { b: 1, a: 2 } }, 'order-42')),
    );
    for (const res of responses) expect(res.body.errors).toBeUndefined();
    const runIds = new Set(responses.map((r) => r.body.data.triggerWorkflow.runId));
    expect(runIds.size).toBe(1);
    const after = await counts();
    expect(after.runs - before.runs).toBe(1);
    expect(after.keys - before.keys).toBe(1);
    const [runId] = [...runIds];
    expect((await finished(runId)).output).toBe(7);

    // Later, the same key and the same payload (keys in another order) still answer the same run.
    const again = await trigger(workflowId, { nested: { a: 2, b: 1 }, n: 7 }, 'order-42');
    expect(again.body.data.triggerWorkflow.runId).toBe(runId);
    expect(again.body.data.triggerWorkflow.run.status).toBe('SUCCEEDED');

    // The same key with another payload is refused and changes nothing.
    const mismatch = await trigger(workflowId, { n: 8 }, 'order-42');
    expect(errorCode(mismatch)).toBe('BAD_USER_INPUT');
    expect(mismatch.body.errors![0].message).toMatch(/idempotencyKey/);
    expect(await counts()).toEqual(after);
  });

  it('starts a new run for a key whose 24 hours are over', async () => {
    const workflowId = await createWorkflow({ name: 'expiring', startStep: 's', steps: { s: { type: 'transform', output: 1 } } });
    const first = (await trigger(workflowId, { v: 1 }, 'daily')).body.data.triggerWorkflow.runId;
    await gw.db.query(`UPDATE workflow_idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'daily'`);
    const second = (await trigger(workflowId, { v: 2 }, 'daily')).body.data.triggerWorkflow.runId;
    expect(second).not.toBe(first);
  });

  it('answers null for a missing, foreign or malformed run id', async () => {
    const workflowId = await createWorkflow({ name: 'mine', startStep: 's', steps: { s: { type: 'transform', output: 1 } } });
    const { runId } = (await trigger(workflowId, {})).body.data.triggerWorkflow;
    const other = await gw.createOrg('Nosy');
    for (const [id, key] of [
      [runId, other.apiKey],
      ['00000000-0000-4000-8000-000000000000', org.apiKey],
      ["1' OR '1'='1", org.apiKey],
    ]) {
      const res = await graphql(gw.url, RUN, { id }, { apiKey: key });
      expect(res.body).toEqual({ data: { workflowRun: null } });
    }
    const wf = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          workflow(id: $id) {
            id
          }
        }
      `,
      { id: workflowId },
      { apiKey: other.apiKey },
    );
    expect(wf.body).toEqual({ data: { workflow: null } });
  });

  it("lists the organization's workflows as a connection, oldest first, with totalCount; deleted and foreign ones left out", async () => {
    const owner = await gw.createOrg('Workflow Listing');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await nextMillisecond();
      ids.push(await createWorkflow({ name: `w${i}`, startStep: 's', steps: { s: { type: 'transform', output: i } } }, owner.orgId));
    }
    await gw.admin.workflows.deleteWorkflow(ids[2]);
    await createWorkflow({ name: 'foreign', startStep: 's', steps: { s: { type: 'transform', output: 1 } } });
    const page = `query($first: Int, $after: String) { workflows(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name startable version createdAt updatedAt deletedAt } } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res: any = await graphql(gw.url, page, { first: 2, after }, { apiKey: owner.apiKey });
      expect(res.body.errors).toBeUndefined();
      const conn = res.body.data.workflows;
      expect(conn.totalCount).toBe(4);
      for (const edge of conn.edges) {
        expect(edge.node).toMatchObject({ startable: true, version: 1, deletedAt: null });
        expect(edge.cursor).toEqual(expect.any(String));
        seen.push(edge.node.id);
      }
      pages++;
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual([ids[0], ids[1], ids[3], ids[4]]);

    // Created within the same millisecond, ordered by id: the cursor neither repeats nor skips one.
    const same = await gw.createOrg('Same Millisecond');
    const twins: string[] = [];
    for (let i = 0; i < 3; i++) twins.push(await createWorkflow({ name: `t${i}`, steps: {} }, same.orgId));
    await gw.db.query(`UPDATE workflows SET created_at = '2026-01-01T00:00:00.000Z' WHERE organization_id = $1`, [same.orgId]);
    const firstPage: any = await graphql(gw.url, page, { first: 1 }, { apiKey: same.apiKey });
    const rest: any = await graphql(
      gw.url,
      page,
      { first: 5, after: firstPage.body.data.workflows.pageInfo.endCursor },
      { apiKey: same.apiKey },
    );
    const order = [...firstPage.body.data.workflows.edges, ...rest.body.data.workflows.edges].map((e: any) => e.node.id);
    expect(order).toEqual([...twins].sort());

    const empty = await gw.createOrg('No Workflows');
    expect((await graphql(gw.url, page, {}, { apiKey: empty.apiKey })).body.data.workflows).toEqual({
      totalCount: 0,
      pageInfo: { hasNextPage: false, endCursor: null },
      edges: [],
    });
    for (const variables of [
      { first: 101 },
      { first: -1 },
      { after: 'bm90IGEgY3Vyc29y' },
      { after: firstPage.body.data.workflows.edges[0].cursor.slice(1) },
    ]) {
      expect(errorCode(await graphql(gw.url, page, variables, { apiKey: owner.apiKey }))).toBe('BAD_USER_INPUT');
    }
    // A teammate's list cursor is not a cursor of this list.
    const teammateCursor = Buffer.from(JSON.stringify(['Teammate', new Date().toISOString(), ids[0]])).toString('base64url');
    expect(errorCode(await graphql(gw.url, page, { after: teammateCursor }, { apiKey: owner.apiKey }))).toBe('BAD_USER_INPUT');
    expect(await graphql(gw.url, '{ workflows { totalCount } }', {})).toMatchObject({ status: 401 });
  });

  it('puts a run whose worker stopped renewing its lease back in the queue, and fails it after the last recovery', async () => {
    const workflowId = await createWorkflow({ name: 'lost', startStep: 's', steps: { s: { type: 'transform', output: 'recovered' } } });
    const insertRunning = async (recoveries: number) => {
      const [{ id }] = await gw.db.query(
        `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, channel, status, next_step, lease_token, lease_until, recoveries, started_at)
         VALUES (gen_random_uuid(), $1, $2, 1, 'TRIGGER', 'RUNNING', 's', gen_random_uuid(), now() - interval '1 second', $3, now())
         RETURNING id`,
        [org.orgId, workflowId, recoveries],
      );
      return id as string;
    };
    const recoverable = await insertRunning(0);
    const exhausted = await insertRunning(2);
    const swept = await new RunStateMachine(gw.db, { announcer: gw.services.runAnnouncer }).sweepExpiredLeases();
    expect(swept.requeued).toContain(recoverable);
    expect(swept.failed).toContain(exhausted);
    expect((await finished(recoverable)).output).toBe('recovered');
    const failed = await readRun(exhausted);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatch(/stopped responding 3 times/);
  });

  it('stopping a worker lets the current step finish, then puts the run back at its next step', async () => {
    const { entered: enteredStep, release } = hooks.hold('/gate', { status: 200, body: { gate: 'passed' } });
    const workflowId = await createWorkflow({
      name: 'gated',
      startStep: 'gate',
      steps: {
        gate: { type: 'http', url: `${hooks.url}/gate`, next: 'done' },
        done: { type: 'transform', output: '{{steps.gate.output.gate}}' },
      },
    });
    const { runId } = (await trigger(workflowId, {})).body.data.triggerWorkflow;
    await enteredStep;
    expect((await readRun(runId)).status).toBe('RUNNING');
    // Stop the executor (the only one running) while the step is in flight.
    const stopping = executor.stop();
    await new Promise((r) => setTimeout(r, 200));
    release();
    await stopping;
    const parked = await readRun(runId);
    expect(parked.status).toBe('QUEUED');
    expect(parked.steps.gate).toMatchObject({ status: 200, output: { gate: 'passed' } });
    // Another worker resumes at the next step, without calling the target again.
    const calls = hooks.received.filter((h) => h.path === '/gate').length;
    executor = await startExecutor();
    const done = await finished(runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output).toBe('passed');
    expect(hooks.received.filter((h) => h.path === '/gate').length).toBe(calls);
  });
});
