import { CliProcess, startWorkerProcess } from './support/process';
import { collectSubscription, subscribeOnce, subscriptionClient } from './support/graphql-ws';
import { dropListenConnection, useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { graphql } from './support/http';

/**
 * `subscription { workflowRunUpdated(id) }` over graphql-ws, against a gateway that runs no
 * executor: every change comes from an `alloy worker` in a process of its own, reaching the
 * gateway only through the database's notifications.
 */

const UPDATES = `subscription Updates($id: ID!) { workflowRunUpdated(id: $id) { id status output error finishedAt } }`;
const TRIGGER = `mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }`;

/** Fragments that each spread the previous one twice: the cost doubles with each, the text stays small. */
function doublingFragments(count: number): string {
  const fragments = ['fragment F0 on WorkflowRun { id status }'];
  for (let i = 1; i <= count; i++) fragments.push(`fragment F${i} on WorkflowRun { ...F${i - 1} ...F${i - 1} }`);
  return `subscription Doubling($id: ID!) { workflowRunUpdated(id: $id) { ...F${count} } } ${fragments.join(' ')}`;
}

describe('workflowRunUpdated over graphql-ws', () => {
  let hooks: HookServer;
  let other: { orgId: string; apiKey: string };
  let quickWorkflow: string;
  let heldWorkflow: string;
  let release: () => void = () => undefined;
  const workers: CliProcess[] = [];
  // No executor in the gateway (alloy serve --no-worker); a depth limit of 2 (what `workflowRunUpdated { id }` needs).
  const { gw, org } = useGatewayWithOrg({
    background: { workflows: false },
    env: { MAX_QUERY_DEPTH: '2' },
    orgName: 'Subscriber',
    beforeClose: async () => {
      release();
      for (const worker of workers) await worker.stop('SIGTERM', 20_000).catch(() => worker.child.kill('SIGKILL'));
    },
  });

  const trigger = async (workflowId: string, payload: unknown = { text: 'hello' }, apiKey = org.apiKey) => {
    const res = await graphql(gw.url, TRIGGER, { id: workflowId, payload }, { apiKey });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.triggerWorkflow.runId as string;
  };
  const statusOf = async (runId: string) =>
    (await gw.db.query(`SELECT status FROM workflow_runs WHERE id = $1`, [runId]))[0].status as string;

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/held', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: { answer: 42 } };
    });
    other = await gw.createOrg('Other');
    quickWorkflow = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'quick',
        startStep: 'shape',
        steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } },
      })
    ).workflow.id;
    heldWorkflow = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'held',
        startStep: 'call',
        steps: {
          call: { type: 'http', url: `${hooks.url}/held`, timeoutMs: 60_000, next: 'shape' },
          shape: { type: 'transform', output: { answer: '{{steps.call.output.answer}}' } },
        },
      })
    ).workflow.id;
  });
  afterAll(() => hooks?.close());

  const stopWorkers = async () => {
    for (const worker of workers.splice(0)) expect(await worker.stop('SIGTERM', 20_000)).toEqual({ code: 0, signal: null });
  };

  it('refuses a connection without a key with 4401, and with a malformed, unknown or revoked key with 4403', async () => {
    const { keyId, apiKey: revoked } = await gw.admin.organizations.createKey(org.orgId, 'to revoke');
    await gw.admin.organizations.revokeKey(keyId);
    const runId = await trigger(quickWorkflow);
    const cases: Array<[Record<string, unknown> | undefined, number]> = [
      [undefined, 4401],
      [{}, 4401],
      [{ 'api-key': '' }, 4401],
      [{ 'api-key': 42 }, 4401],
      [{ authorization: `Bearer ${org.apiKey}` }, 4401],
      [{ 'api-key': 'not-a-key' }, 4403],
      [{ 'api-key': `${org.apiKey.slice(0, -4)}AAAA` }, 4403],
      [{ 'api-key': revoked }, 4403],
    ];
    for (const [params, code] of cases) {
      const subscription = await collectSubscription(gw.url, params, UPDATES, { id: runId });
      const end = await subscription.ended;
      expect({ params, end }).toEqual({ params, end: { closed: code, reason: expect.any(String) } });
      expect(subscription.results).toEqual([]);
    }
  });

  it('closes the socket with 4403 at the next subscribe once its key is revoked', async () => {
    const { keyId, apiKey } = await gw.admin.organizations.createKey(org.orgId, 'short-lived');
    const runId = await trigger(quickWorkflow);
    let closed!: (code: number) => void;
    const closedWith = new Promise<number>((resolve) => (closed = resolve));
    // Not lazy: the socket stays open between the two subscriptions.
    const client = await subscriptionClient(gw.url, { 'api-key': apiKey }, (close) => closed(close.code), false);
    try {
      const first = await new Promise<unknown>((resolve, reject) =>
        client.subscribe({ query: UPDATES, variables: { id: runId } }, { next: resolve, error: reject, complete: () => undefined }),
      );
      expect(first).toEqual({ data: { workflowRunUpdated: expect.objectContaining({ status: 'QUEUED' }) } });
      await gw.admin.organizations.revokeKey(keyId);
      const second = new Promise<unknown>((resolve) =>
        client.subscribe(
          { query: UPDATES, variables: { id: runId } },
          { next: resolve, error: resolve, complete: () => resolve('complete') },
        ),
      );
      expect(await closedWith).toBe(4403);
      expect(JSON.stringify(await second)).not.toMatch(/QUEUED/);
    } finally {
      await client.dispose();
    }
  });

  it("answers NOT_FOUND for another organization's run and for ids that are no run", async () => {
    const foreignWorkflow = (
      await gw.services.workflows.createWorkflow(other.orgId, {
        name: 'theirs',
        startStep: 'a',
        steps: { a: { type: 'transform', output: 1 } },
      })
    ).workflow.id;
    const foreignRun = await trigger(foreignWorkflow, { secret: 'BLUEBIRD' }, other.apiKey);
    for (const id of [foreignRun, '00000000-0000-0000-0000-000000000000', 'not-a-uuid', '']) {
      const { text } = await subscribeOnce(gw.url, org.apiKey, UPDATES, { id });
      const answer = JSON.parse(text);
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors[0].extensions).toEqual({ code: 'NOT_FOUND' });
      expect(text).not.toMatch(/BLUEBIRD|stacktrace/);
    }
  });

  it('sends every status change once and in order from a worker in another process, then completes', async () => {
    const runId = await trigger(heldWorkflow, { text: 'held' });
    // Two subscribers of the same run, on two sockets.
    const first = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    const second = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    await Promise.all([first.received(1), second.received(1)]);
    expect(first.results).toEqual([
      { data: { workflowRunUpdated: { id: runId, status: 'QUEUED', output: null, error: null, finishedAt: null } } },
    ]);

    workers.push(await startWorkerProcess(gw.database.url));
    await Promise.all([first.received(2), second.received(2)]);
    expect(first.results[1].data.workflowRunUpdated.status).toBe('RUNNING');
    // Holding the step: lease renewals and step progress are no status changes and send nothing.
    await waitFor(
      async () => hooks.received.filter((h) => h.path === '/held').length,
      (n) => n === 1,
      20_000,
      'the held step',
    );
    release();
    expect(await first.ended).toEqual({ complete: true });
    expect(await second.ended).toEqual({ complete: true });
    for (const subscription of [first, second]) {
      expect(subscription.results.map((r) => r.data.workflowRunUpdated.status)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
      expect(subscription.results[2].data.workflowRunUpdated).toEqual({
        id: runId,
        status: 'SUCCEEDED',
        output: { answer: 42 },
        error: null,
        finishedAt: expect.any(String),
      });
    }
    expect(await statusOf(runId)).toBe('SUCCEEDED');
  });

  it('sends QUEUED, RUNNING, SUCCEEDED for a transform-only run, however fast the worker in another process is', async () => {
    await stopWorkers();
    const runId = await trigger(quickWorkflow, { text: 'quick' });
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    await subscription.received(1);
    workers.push(await startWorkerProcess(gw.database.url));
    expect(await subscription.ended).toEqual({ complete: true });
    expect(subscription.results.map((r) => r.data.workflowRunUpdated)).toEqual([
      { id: runId, status: 'QUEUED', output: null, error: null, finishedAt: null },
      { id: runId, status: 'RUNNING', output: null, error: null, finishedAt: null },
      { id: runId, status: 'SUCCEEDED', output: { echo: 'quick' }, error: null, finishedAt: expect.any(String) },
    ]);
  });

  it('still sends RUNNING when the row had moved on by the time its notification was read', async () => {
    await stopWorkers();
    const runId = await trigger(quickWorkflow, { text: 'together' });
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    await subscription.received(1);
    // Two changes committed together: both notifications arrive after the commit, so the row read
    // for the first already shows the second.
    await gw.db.transaction(async (tx) => {
      await tx.query(`UPDATE workflow_runs SET status = 'RUNNING', started_at = now() WHERE id = $1`, [runId]);
      await tx.query(`UPDATE workflow_runs SET status = 'SUCCEEDED', output = '{"together":true}', finished_at = now() WHERE id = $1`, [
        runId,
      ]);
    });
    // Announced as a worker would, each change with its seq, after the commit.
    await gw.db.query(`SELECT pg_notify('alloy_run_events', $1)`, [
      JSON.stringify([
        { id: runId, organizationId: org.orgId, status: 'RUNNING', seq: 2 },
        { id: runId, organizationId: org.orgId, status: 'SUCCEEDED', seq: 3 },
      ]),
    ]);
    expect(await subscription.ended).toEqual({ complete: true });
    expect(subscription.results.map((r) => r.data.workflowRunUpdated)).toEqual([
      { id: runId, status: 'QUEUED', output: null, error: null, finishedAt: null },
      { id: runId, status: 'RUNNING', output: null, error: null, finishedAt: null },
      { id: runId, status: 'SUCCEEDED', output: { together: true }, error: null, finishedAt: expect.any(String) },
    ]);
  });

  it('answers an already finished run with its final state and completes at once', async () => {
    if (!workers.length) workers.push(await startWorkerProcess(gw.database.url));
    const runId = await trigger(quickWorkflow, { text: 'done already' });
    await waitFor(
      () => statusOf(runId),
      (status) => status === 'SUCCEEDED',
      20_000,
      'the run to finish',
    );
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    expect(await subscription.ended).toEqual({ complete: true });
    expect(subscription.results).toEqual([
      {
        data: {
          workflowRunUpdated: {
            id: runId,
            status: 'SUCCEEDED',
            output: { echo: 'done already' },
            error: null,
            finishedAt: expect.any(String),
          },
        },
      },
    ]);
  });

  it('takes the run id from a literal argument or a variable of another name as from $id', async () => {
    if (!workers.length) workers.push(await startWorkerProcess(gw.database.url));
    const runId = await trigger(quickWorkflow, { text: 'by any name' });
    await waitFor(
      () => statusOf(runId),
      (status) => status === 'SUCCEEDED',
      20_000,
      'the run to finish',
    );
    const literal = `subscription { workflowRunUpdated(id: ${JSON.stringify(runId)}) { id status } }`;
    const renamed = `subscription Renamed($run: ID!) { workflowRunUpdated(id: $run) { id status } }`;
    for (const [query, variables] of [
      [literal, {}],
      [renamed, { run: runId }],
    ] as const) {
      const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, query, variables);
      expect(await subscription.ended).toEqual({ complete: true });
      expect(subscription.results).toEqual([{ data: { workflowRunUpdated: { id: runId, status: 'SUCCEEDED' } } }]);
    }
  });

  it('reads the row again after the LISTEN connection was lost: nothing repeated, a change made meanwhile not missed', async () => {
    await stopWorkers();
    const runId = await trigger(quickWorkflow, { text: 'gap' });
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, { id: runId });
    await subscription.received(1);
    const listener = gw.services.notifications;
    const loseListenConnection = () => dropListenConnection(gw);
    // A loss with no change meanwhile: the row read on reconnect shows what was sent already.
    await loseListenConnection();
    await waitFor(async () => listener.isListening, Boolean, 20_000, 'the LISTEN connection to come back');
    // A change while nobody listens (the gateway reconnects after a second): its notification is lost.
    await loseListenConnection();
    await gw.db.query(`UPDATE workflow_runs SET status = 'FAILED', error = 'failed during the gap', finished_at = now() WHERE id = $1`, [
      runId,
    ]);
    expect(listener.isListening).toBe(false);
    expect(await subscription.ended).toEqual({ complete: true });
    expect(subscription.results.map((r) => r.data.workflowRunUpdated)).toEqual([
      { id: runId, status: 'QUEUED', output: null, error: null, finishedAt: null },
      { id: runId, status: 'FAILED', output: null, error: 'failed during the gap', finishedAt: expect.any(String) },
    ]);
  });

  it('refuses documents over the query limits with QUERY_TOO_COMPLEX, before anything runs', async () => {
    const runId = await trigger(quickWorkflow);
    const cases: Array<[string, string]> = [
      ['depth', `subscription($id: ID!) { workflowRunUpdated(id: $id) { workflow { name } } }`],
      ['cost', doublingFragments(14)],
      [
        'aliases',
        `subscription($id: ID!) { workflowRunUpdated(id: $id) { ${Array.from({ length: 16 }, (_, i) => `a${i}: id`).join(' ')} } }`,
      ],
      ['tokens', `subscription($id: ID!) { workflowRunUpdated(id: $id) { ${'id '.repeat(2100)} } }`],
    ];
    for (const [limit, query] of cases) {
      const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, query, { id: runId });
      const end = (await subscription.ended) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
      expect({ limit, results: subscription.results }).toEqual({ limit, results: [] });
      expect(end.errors).toHaveLength(1);
      expect(end.errors[0].extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit });
    }
  });

  it('closes the socket (1009) on a message over MAX_JSON_BODY_BYTES, as HTTP refuses such a body', async () => {
    const runId = await trigger(quickWorkflow);
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, {
      id: runId,
      padding: 'x'.repeat(gw.config.maxJsonBodyBytes),
    });
    expect(await subscription.ended).toEqual({ closed: 1009, reason: expect.any(String) });
    expect(subscription.results).toEqual([]);
  });

  it('serves only subscriptions over the socket, and answers a subscription sent over HTTP with 400', async () => {
    const { text } = await subscribeOnce(gw.url, org.apiKey, '{ organization { name } }', {});
    expect(JSON.parse(text).errors[0].extensions).toEqual({ code: 'BAD_REQUEST' });
    const runId = await trigger(quickWorkflow);
    const res = await graphql(gw.url, UPDATES, { id: runId }, { apiKey: org.apiKey });
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0].extensions?.code).toBe('BAD_REQUEST');
  });

  it('answers a variable of the wrong type with BAD_USER_INPUT, masked like HTTP errors', async () => {
    const { text } = await subscribeOnce(gw.url, org.apiKey, UPDATES, { id: { nested: true } });
    const answer = JSON.parse(text);
    expect(answer.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(text).not.toMatch(/stacktrace|node_modules|\.ts:\d+/);
  });
});
