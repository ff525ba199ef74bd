import { collectSubscription } from './support/graphql-ws';
import { dropListenConnection, useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { errorCode, graphql } from './support/http';
import { waitFor } from './support/poll';
import { CliProcess, startWorkerProcess } from './support/process';
import { startStreamTarget, StreamTarget } from './support/stream-target';

/**
 * cancelWorkflowRun and rerunWorkflowRun against a gateway that runs no executor: runs are
 * executed by an `alloy worker` in a process of its own (one run at a time), so a cancel reaches
 * the worker only through the database.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON, $wait: Int) { triggerWorkflow(workflowId: $id, payload: $payload, waitSeconds: $wait) { runId run { status error finishedAt } } }`;
const CANCEL = `mutation($id: ID!) { cancelWorkflowRun(id: $id) { id status output error finishedAt steps } }`;
const RERUN = `mutation($id: ID!, $wait: Int) { rerunWorkflowRun(id: $id, waitSeconds: $wait) { runId run { status payload output workflowVersion rerunOf { id } } } }`;
const UPDATES = `subscription($id: ID!) { workflowRunUpdated(id: $id) { status } }`;
const EVENTS = `query($id: ID!) { workflowRun(id: $id) { status steps rerunOf { id } events(first: 100) { edges { node { seq type step data } } } } }`;

describe('cancel and rerun', () => {
  let target: StreamTarget;
  let hooks: HookServer;
  let worker: CliProcess | undefined;
  let slow: string;
  let quick: string;
  const { gw, org } = useGatewayWithOrg({
    background: { workflows: false },
    orgName: 'Cancel',
    beforeClose: async () => {
      for (const call of target?.calls ?? []) call.end();
      await worker?.stop('SIGTERM', 20_000).catch(() => worker?.child.kill('SIGKILL'));
    },
  });

  const ask = (query: string, variables: Record<string, unknown>, apiKey = org.apiKey) => graphql(gw.url, query, variables, { apiKey });
  const trigger = async (workflowId: string, payload: unknown = { n: 1 }) => {
    const res = await ask(TRIGGER, { id: workflowId, payload });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.triggerWorkflow.runId as string;
  };
  const runOf = async (runId: string) => (await ask(EVENTS, { id: runId })).body.data.workflowRun;
  const eventsOf = async (runId: string) => (await runOf(runId)).events.edges.map((e: { node: unknown }) => e.node);
  const statusOf = async (runId: string) =>
    (await gw.db.query(`SELECT status FROM workflow_runs WHERE id = $1`, [runId]))[0].status as string;

  beforeAll(async () => {
    target = await startStreamTarget();
    hooks = await startHookServer();
    hooks.route('/after', () => ({ status: 200, body: { after: true } }));
    hooks.route('/quick', () => ({ status: 200, body: { ok: true } }));
    slow = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'slow',
        startStep: 'call',
        steps: {
          call: { type: 'http', url: `${target.url}/slow`, timeoutMs: 30_000, next: 'after' },
          after: { type: 'http', url: `${hooks.url}/after` },
        },
      })
    ).workflow.id;
    quick = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'quick',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${hooks.url}/quick`, next: 'shape' }, shape: { type: 'transform', output: { v: '1' } } },
      })
    ).workflow.id;
  });
  afterAll(async () => {
    await target?.close();
    await hooks?.close();
  });

  it('a queued run that is cancelled never starts', async () => {
    const cancelled = await trigger(quick, { which: 'cancelled' });
    const res = await ask(CANCEL, { id: cancelled });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.cancelWorkflowRun).toMatchObject({ id: cancelled, status: 'CANCELLED', output: null, steps: {} });
    expect(res.body.data.cancelWorkflowRun.finishedAt).not.toBeNull();
    const later = await trigger(quick, { which: 'later' });
    // One run at a time: when the later run has finished, the worker has passed the cancelled one.
    worker = await startWorkerProcess(gw.database.url, { WORKFLOW_CONCURRENCY: '1' });
    await waitFor(
      () => statusOf(later),
      (s) => s === 'SUCCEEDED',
      20_000,
      'the later run to succeed',
    );
    expect(await statusOf(cancelled)).toBe('CANCELLED');
    const called = hooks.received.filter((h) => h.path === '/quick').map((h) => h.headers['idempotency-key']);
    expect(called).toEqual([`${later}:call`]);
    expect(await eventsOf(cancelled)).toEqual([
      { seq: 1, type: 'STATUS', step: null, data: 'QUEUED' },
      { seq: 2, type: 'STATUS', step: null, data: 'CANCELLED' },
    ]);
  });

  it('a run inside a 30 s http step in another process stops within 2 s: the request is aborted, no later step runs', async () => {
    // A caller waiting on the run, and a follower of its status.
    const waiting = ask(TRIGGER, { id: slow, payload: { n: 2 }, wait: 30 });
    const call = await target.next();
    const runId = call.headers['idempotency-key']!.toString().split(':')[0];
    const updates = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    await updates.received(1);
    call.send({ token: 'partial' });
    await waitFor(
      async () => (await eventsOf(runId)).some((e: { type: string }) => e.type === 'OUTPUT'),
      (seen) => seen,
      10_000,
      'the first OUTPUT',
    );

    const cancelledAt = Date.now();
    const res = await ask(CANCEL, { id: runId });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.cancelWorkflowRun.status).toBe('CANCELLED');
    // The worker (another process) aborts its request in flight: bounded at 2 s.
    await waitFor(
      () => call.isAborted(),
      (aborted) => aborted,
      2_000,
      'the target to see its request aborted',
    );
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);

    // The waiting caller and the follower treat CANCELLED as final.
    const answered = await waiting;
    expect(answered.body.data.triggerWorkflow.run.status).toBe('CANCELLED');
    expect(await updates.ended).toEqual({ complete: true });
    expect(updates.results.map((r) => r.data.workflowRunUpdated.status).pop()).toBe('CANCELLED');

    // One run at a time: once a later run has finished, the cancelled one's work is over.
    const later = await trigger(quick);
    await waitFor(
      () => statusOf(later),
      (s) => s === 'SUCCEEDED',
      20_000,
      'a later run to succeed',
    );
    expect(hooks.received.filter((h) => h.path === '/after')).toEqual([]);
    const run = await runOf(runId);
    expect(run.status).toBe('CANCELLED');
    expect(run.steps).toEqual({});
    const events = await eventsOf(runId);
    expect(events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      ['STATUS', 'QUEUED'],
      ['STATUS', 'RUNNING'],
      ['STEP_STARTED', null],
      ['OUTPUT', { token: 'partial' }],
      ['STATUS', 'CANCELLED'],
    ]);
  });

  it('stops a running run within 2 s also when the LISTEN connections are lost: the worker checks its runs every second', async () => {
    const runId = await trigger(slow, { n: 3 });
    const call = await target.next();
    expect(call.headers['idempotency-key']).toBe(`${runId}:call`);
    // Every LISTEN connection of the database (the gateway's and the worker's) is cut; the cancel's announcement may reach nobody.
    await dropListenConnection(gw);
    const res = await ask(CANCEL, { id: runId });
    expect(res.body.data.cancelWorkflowRun.status).toBe('CANCELLED');
    await waitFor(
      () => call.isAborted(),
      (aborted) => aborted,
      2_000,
      'the target to see its request aborted',
    );
    expect(await statusOf(runId)).toBe('CANCELLED');
  });

  it('request logs show a cancelled call as final, with its duration', async () => {
    const teammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Slow', workflowId: slow, channels: ['API'] })).id;
    const called = await ask(`mutation($id: ID!) { callTeammate(teammateId: $id, input: { q: 1 }) { runId } }`, { id: teammate });
    const { runId } = called.body.data.callTeammate;
    const call = await target.next();
    expect((await ask(CANCEL, { id: runId })).body.data.cancelWorkflowRun.status).toBe('CANCELLED');
    await waitFor(
      () => call.isAborted(),
      (aborted) => aborted,
      2_000,
      'the request to be aborted',
    );
    const logs = await ask(
      `query($id: ID!) { teammate(id: $id) { requestLogs(status: CANCELLED) { totalCount edges { node { runId status error durationMs finishedAt } } } } }`,
      { id: teammate },
    );
    expect(logs.body.errors).toBeUndefined();
    const { requestLogs } = logs.body.data.teammate;
    expect(requestLogs.totalCount).toBe(1);
    expect(requestLogs.edges[0].node).toMatchObject({ runId, status: 'CANCELLED', error: 'The run was cancelled' });
    expect(requestLogs.edges[0].node.durationMs).toBeGreaterThanOrEqual(0);
    expect(requestLogs.edges[0].node.finishedAt).not.toBeNull();
  });

  it('cancelling a finished run returns it unchanged; another organization gets NOT_FOUND', async () => {
    const runId = await trigger(quick);
    await waitFor(
      () => statusOf(runId),
      (s) => s === 'SUCCEEDED',
      20_000,
      'the run to succeed',
    );
    const before = await runOf(runId);
    const res = await ask(CANCEL, { id: runId });
    expect(res.body.data.cancelWorkflowRun).toMatchObject({ status: 'SUCCEEDED', output: { v: '1' }, error: null });
    expect(await runOf(runId)).toEqual(before);
    const other = await gw.createOrg('Stranger');
    for (const id of [runId, 'not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      const refused = await ask(CANCEL, { id }, id === runId ? other.apiKey : org.apiKey);
      expect(errorCode(refused)).toBe('NOT_FOUND');
    }
    expect(await statusOf(runId)).toBe('SUCCEEDED');
  });

  it('a run is never both cancelled and finished: cancels racing the worker leave one final status event each', async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => trigger(quick, { i })));
    await Promise.all(
      runs.map(async (id, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 15));
        const res = await ask(CANCEL, { id });
        expect(res.body.errors).toBeUndefined();
      }),
    );
    for (const id of runs) {
      await waitFor(
        () => statusOf(id),
        (s) => s === 'SUCCEEDED' || s === 'CANCELLED',
        20_000,
        'every run to end',
      );
    }
    const rows: Array<{ id: string; status: string; finals: string[] }> = await gw.db.query(
      `SELECT r.id, r.status, array_agg(e.data::text ORDER BY e.seq) FILTER (WHERE e.type = 'STATUS' AND e.data::text IN ('"SUCCEEDED"', '"FAILED"', '"CANCELLED"')) AS finals
         FROM workflow_runs r JOIN workflow_run_events e ON e.run_id = r.id WHERE r.id = ANY ($1::uuid[]) GROUP BY r.id, r.status`,
      [runs],
    );
    expect(rows).toHaveLength(runs.length);
    for (const row of rows) expect(row.finals).toEqual([JSON.stringify(row.status)]);
  });

  it('rerun starts the same workflow (its current version) with the same payload, linked by rerunOf', async () => {
    const original = await trigger(quick, { keep: 'me', order: [3, 1, 2] });
    await waitFor(
      () => statusOf(original),
      (s) => s === 'SUCCEEDED',
      20_000,
      'the original run',
    );
    await gw.admin.workflows.updateWorkflow(quick, {
      name: 'quick',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/quick`, next: 'shape' }, shape: { type: 'transform', output: { v: '2' } } },
    });
    const res = await ask(RERUN, { id: original, wait: 20 });
    expect(res.body.errors).toBeUndefined();
    const { runId, run } = res.body.data.rerunWorkflowRun;
    expect(runId).not.toBe(original);
    expect(run).toEqual({
      status: 'SUCCEEDED',
      payload: { keep: 'me', order: [3, 1, 2] },
      output: { v: '2' },
      workflowVersion: 2,
      rerunOf: { id: original },
    });
    expect((await runOf(original)).rerunOf).toBeNull();
    // The worker got the same payload.
    const received = hooks.received.filter((h) => h.headers['idempotency-key'] === `${runId}:call`);
    expect(received.map((h) => h.body.payload)).toEqual([{ keep: 'me', order: [3, 1, 2] }]);

    // A deleted workflow cannot be rerun; nor can another organization's run.
    const doomed = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'doomed',
        startStep: 'shape',
        steps: { shape: { type: 'transform', output: { x: '1' } } },
      })
    ).workflow.id;
    const doomedRun = await trigger(doomed);
    await gw.admin.workflows.deleteWorkflow(doomed);
    const before = (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0].n;
    expect(errorCode(await ask(RERUN, { id: doomedRun }))).toBe('WORKFLOW_NOT_FOUND');
    const other = await gw.createOrg('Elsewhere');
    expect(errorCode(await ask(RERUN, { id: original }, other.apiKey))).toBe('NOT_FOUND');
    expect((await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0].n).toBe(before);
  });
});
