import http from 'node:http';
import { CliProcess, startWorkerProcess } from './support/process';
import { dropListenConnection, useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { graphql } from './support/http';

/**
 * `waitSeconds` on triggerWorkflow and callTeammate, against a gateway that runs no executor
 * (`alloy serve --no-worker`): the runs are executed by an `alloy worker` in a process of its own,
 * and the waiting request learns of the finish only through the database's notifications.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON, $wait: Int) {
  triggerWorkflow(workflowId: $id, payload: $payload, waitSeconds: $wait) { runId run { id status output error finishedAt } }
}`;
const CALL = `mutation($id: ID!, $input: JSON!, $wait: Int) {
  callTeammate(teammateId: $id, input: $input, waitSeconds: $wait) { runId run { id status output error finishedAt } }
}`;

describe('waitSeconds', () => {
  let hooks: HookServer;
  let quickWorkflow: string;
  let heldWorkflow: string;
  let failingWorkflow: string;
  let teammateId: string;
  let release: () => void = () => undefined;
  let worker: CliProcess | undefined;
  const { gw, org } = useGatewayWithOrg({
    background: { workflows: false },
    orgName: 'Waiter',
    beforeClose: async () => {
      release();
      if (worker) await worker.stop('SIGTERM', 20_000).catch(() => worker?.child.kill('SIGKILL'));
    },
  });

  const trigger = (workflowId: string, wait: unknown, payload: unknown = { text: 'hello' }) =>
    graphql(gw.url, TRIGGER, { id: workflowId, payload, wait }, { apiKey: org.apiKey });
  const runCount = async () =>
    (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE organization_id = $1`, [org.orgId]))[0].n as number;
  const rowOf = async (runId: string) =>
    (await gw.db.query(`SELECT status, output, error FROM workflow_runs WHERE id = $1`, [runId]))[0] as {
      status: string;
      output: unknown;
      error: string | null;
    };

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/held', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: { answer: 42 } };
    });
    hooks.route('/broken', () => ({ status: 500, body: { oops: true } }));
    const create = async (definition: object) => (await gw.services.workflows.createWorkflow(org.orgId, definition)).workflow.id;
    quickWorkflow = await create({
      name: 'quick',
      startStep: 'shape',
      steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } },
    });
    heldWorkflow = await create({
      name: 'held',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/held`, timeoutMs: 60_000, next: 'shape' },
        shape: { type: 'transform', output: '{{steps.call.output}}' },
      },
    });
    failingWorkflow = await create({ name: 'failing', startStep: 'call', steps: { call: { type: 'http', url: `${hooks.url}/broken` } } });
    teammateId = (
      await gw.services.teammates.createTeammate(org.orgId, { name: 'Waiting bot', workflowId: quickWorkflow, channels: ['API'] })
    ).id;
  });
  afterAll(() => hooks?.close());

  describe('without any worker', () => {
    it('refuses waitSeconds outside 0 to 30 with BAD_USER_INPUT naming it, and starts no run', async () => {
      const before = await runCount();
      for (const wait of [31, -1, 100, 2147483647, -2147483648, 2147483648, 1.5, '5', true]) {
        for (const res of [
          await trigger(quickWorkflow, wait),
          await graphql(gw.url, CALL, { id: teammateId, input: {}, wait }, { apiKey: org.apiKey }),
        ]) {
          expect({ wait, status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({
            wait,
            status: expect.any(Number),
            code: 'BAD_USER_INPUT',
          });
          expect(res.status).toBeLessThan(500);
          expect(res.body.errors?.[0].message).toMatch(/waitSeconds|\$wait/);
          expect(res.body.data?.triggerWorkflow ?? res.body.data?.callTeammate ?? null).toBeNull();
        }
      }
      // As a literal in the document too.
      const literal = await graphql(
        gw.url,
        `
          mutation ($id: ID!) {
            triggerWorkflow(workflowId: $id, waitSeconds: 31) {
              runId
            }
          }
        `,
        { id: quickWorkflow },
        { apiKey: org.apiKey },
      );
      expect(literal.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'waitSeconds' });
      expect(await runCount()).toBe(before);
    });

    it('answers at once without waitSeconds, and with the run as it stands (QUEUED) once the wait is up', async () => {
      for (const wait of [undefined, null, 0]) {
        const res = await trigger(quickWorkflow, wait);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.triggerWorkflow.run.status).toBe('QUEUED');
      }
      const started = Date.now();
      const res = await trigger(quickWorkflow, 1);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.triggerWorkflow.run).toMatchObject({ status: 'QUEUED', output: null, finishedAt: null });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(gw.services.runWaiter.waiting).toBe(0);
    });

    it('holds no pooled connection while waiting: more waits than the pool has connections, and other requests still answer', async () => {
      // The test gateway's pool has 10 connections; each wait holding one would leave none.
      const waits = Array.from({ length: 12 }, (_, i) => {
        const answer = trigger(quickWorkflow, 30, { text: `wait ${i}` });
        const settled = { done: false };
        void answer.finally(() => (settled.done = true));
        return { answer, settled };
      });
      await waitFor(
        async () => gw.services.runWaiter.waiting,
        (n) => n === 12,
        20_000,
        'all 12 requests to be waiting',
      );
      const [{ busy }] = await gw.db.query(
        `SELECT count(*)::int AS busy FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'alloy-test' AND state <> 'idle' AND pid <> pg_backend_pid()`,
      );
      expect(busy).toBe(0);
      const other = await graphql(gw.url, '{ organization { name } }', {}, { apiKey: org.apiKey });
      expect(other.body).toEqual({ data: { organization: { name: 'Waiter' } } });
      expect(waits.filter((w) => w.settled.done)).toEqual([]);

      // Finished by another connection (as a worker would): every wait answers with the result.
      const [finished] = await gw.db.query(
        `UPDATE workflow_runs SET status = 'SUCCEEDED', output = json_build_object('done', payload->>'text'), finished_at = now()
          WHERE organization_id = $1 AND status = 'QUEUED' AND payload->>'text' LIKE 'wait %' RETURNING id`,
        [org.orgId],
      );
      await gw.db.query(`SELECT alloy_announce_runs($1::uuid[])`, [finished.map((r: { id: string }) => r.id)]);
      const answers = await Promise.all(waits.map((w) => w.answer));
      answers.forEach((res, i) => {
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.triggerWorkflow.run).toMatchObject({ status: 'SUCCEEDED', output: { done: `wait ${i}` } });
      });
      expect(gw.services.runWaiter.waiting).toBe(0);
    });

    it('reads the row again when the LISTEN connection is back, so that a finish announced meanwhile is not missed', async () => {
      const started = Date.now();
      const answer = trigger(quickWorkflow, 30, { text: 'gap' });
      await waitFor(
        async () => gw.services.runWaiter.waiting,
        (n) => n === 1,
        20_000,
        'the request to be waiting',
      );
      const listener = gw.services.notifications;
      await dropListenConnection(gw);
      await gw.db.query(
        `UPDATE workflow_runs SET status = 'SUCCEEDED', output = '"finished in the gap"', finished_at = now() WHERE organization_id = $1 AND payload->>'text' = 'gap'`,
        [org.orgId],
      );
      // Its notification went to no one: the gateway reconnects a second after the loss.
      expect(listener.isListening).toBe(false);
      const res = await answer;
      expect(res.body.data.triggerWorkflow.run).toMatchObject({ status: 'SUCCEEDED', output: 'finished in the gap' });
      // Answered on the reconnect, well before the 30 s wait would have ended with a read of its own.
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  });

  describe('with the worker in another process', () => {
    beforeAll(async () => {
      worker = await startWorkerProcess(gw.database.url);
    });

    it('answers triggerWorkflow when the run has SUCCEEDED, with its output', async () => {
      const res = await trigger(quickWorkflow, 20, { text: 'straight back' });
      expect(res.body.errors).toBeUndefined();
      const { runId, run } = res.body.data.triggerWorkflow;
      expect(run).toEqual({
        id: runId,
        status: 'SUCCEEDED',
        output: { echo: 'straight back' },
        error: null,
        finishedAt: expect.any(String),
      });
      expect(await rowOf(runId)).toEqual({ status: 'SUCCEEDED', output: { echo: 'straight back' }, error: null });
    });

    it('answers callTeammate when the run has SUCCEEDED, and logs the call', async () => {
      const res = await graphql(gw.url, CALL, { id: teammateId, input: { text: 'teammate' }, wait: 20 }, { apiKey: org.apiKey });
      expect(res.body.errors).toBeUndefined();
      const { runId, run } = res.body.data.callTeammate;
      expect(run).toMatchObject({ id: runId, status: 'SUCCEEDED', output: { echo: 'teammate' }, error: null });
      const logs = await graphql(
        gw.url,
        `
          query ($id: ID!) {
            teammate(id: $id) {
              requestLogs(first: 5) {
                edges {
                  node {
                    runId
                    status
                    response
                  }
                }
              }
            }
          }
        `,
        { id: teammateId },
        { apiKey: org.apiKey },
      );
      expect(logs.body.data.teammate.requestLogs.edges[0].node).toEqual({ runId, status: 'SUCCEEDED', response: { echo: 'teammate' } });
    });

    it('answers a FAILED run with its error', async () => {
      const res = await trigger(failingWorkflow, 20);
      expect(res.body.errors).toBeUndefined();
      const { run } = res.body.data.triggerWorkflow;
      expect(run.status).toBe('FAILED');
      expect(run.error).toMatch(/call/);
      expect(run.output).toBeNull();
    });

    it('answers at once for a finished run returned again by its idempotency key', async () => {
      const query = `mutation($id: ID!) { triggerWorkflow(workflowId: $id, payload: { text: "again" }, idempotencyKey: "wait-again", waitSeconds: 20) { runId run { status output } } }`;
      const first = await graphql(gw.url, query, { id: quickWorkflow }, { apiKey: org.apiKey });
      const second = await graphql(gw.url, query, { id: quickWorkflow }, { apiKey: org.apiKey });
      expect(second.body.data.triggerWorkflow).toEqual(first.body.data.triggerWorkflow);
      expect(second.body.data.triggerWorkflow.run).toEqual({ status: 'SUCCEEDED', output: { echo: 'again' } });
    });

    it('stops waiting when the client goes away, holding nothing, and the run still finishes', async () => {
      const body = JSON.stringify({ query: TRIGGER, variables: { id: heldWorkflow, payload: { text: 'gone' }, wait: 30 } });
      const request = http.request(`${gw.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': org.apiKey, 'content-length': Buffer.byteLength(body) },
      });
      const closed = new Promise<void>((resolve) => request.once('close', () => resolve()));
      request.once('error', () => undefined);
      request.end(body);
      await waitFor(
        async () => hooks.received.filter((h) => h.path === '/held').length,
        (n) => n === 1,
        20_000,
        'the worker to run the held step',
      );
      await waitFor(
        async () => gw.services.runWaiter.waiting,
        (n) => n === 1,
        20_000,
        'the request to be waiting',
      );
      request.destroy();
      await closed;
      await waitFor(
        async () => gw.services.runWaiter.waiting,
        (n) => n === 0,
        10_000,
        'the wait to end',
      );
      const [{ runId }] = await gw.db.query(
        `SELECT id AS "runId" FROM workflow_runs WHERE organization_id = $1 AND payload->>'text' = 'gone'`,
        [org.orgId],
      );
      expect((await rowOf(runId)).status).toBe('RUNNING');

      release();
      const done = await waitFor(
        () => rowOf(runId),
        (row) => row.status === 'SUCCEEDED' || row.status === 'FAILED',
        20_000,
        'the run to finish',
      );
      expect(done).toEqual({ status: 'SUCCEEDED', output: { answer: 42 }, error: null });
    });
  });
});
