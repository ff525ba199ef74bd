import { createHmac } from 'node:crypto';
import http from 'node:http';
import { callbackRetryLimit, CALLBACK_RETRY_WINDOW_SECONDS } from '../src/workflows/run-callbacks';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, ReceivedHook, startHookServer } from './support/hook-server';
import { errorCode, graphql } from './support/http';
import { waitFor } from './support/poll';
import { ChildGateway, freePort, startChildGateway } from './support/process';

/**
 * Completion callbacks, delivered by gateways running as processes of their own (`alloy serve`
 * with its worker) on the test's database: the test's own gateway runs no background work, so a
 * callback is only ever sent by those processes, before and after a restart.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON, $url: String) { triggerWorkflow(workflowId: $id, payload: $payload, callbackUrl: $url) { runId run { callback { url attempts deliveredAt lastError } } } }`;
const CALL = `mutation($id: ID!, $url: String) { callTeammate(teammateId: $id, input: { q: 1 }, callbackUrl: $url) { runId } }`;
const CALLBACK = `query($id: ID!) { workflowRun(id: $id) { status finishedAt callback { url attempts deliveredAt lastError } } }`;
const CANCEL = `mutation($id: ID!) { cancelWorkflowRun(id: $id) { status } }`;

/** Checks `alloy-signature: t=…,v1=…` over the body exactly as received. */
function signedWith(secret: string, hook: Pick<ReceivedHook, 'headers' | 'raw'>): boolean {
  const header = String(hook.headers['alloy-signature'] ?? '');
  const t = /t=(\d+)/.exec(header)?.[1];
  const v1 = /v1=([0-9a-f]+)/.exec(header)?.[1];
  return !!t && v1 === createHmac('sha256', secret).update(`${t}.${hook.raw}`).digest('hex');
}

describe('completion callbacks', () => {
  let hooks: HookServer;
  let child: ChildGateway | undefined;
  let workflowId: string;
  let heldWorkflow: string;
  let secret: string;
  let release: () => void = () => undefined;
  const { gw, org } = useGatewayWithOrg({
    background: false,
    orgName: 'Callbacks',
    beforeClose: async () => {
      release();
      await child?.stop();
    },
  });
  const ENV = { CALLBACK_RETRY_DELAY_SECONDS: '1', WORKFLOW_LEASE_SECONDS: '5' };
  const ask = (url: string, query: string, variables: Record<string, unknown>) => graphql(url, query, variables, { apiKey: org.apiKey });
  const callbackOf = async (runId: string) => (await ask(gw.url, CALLBACK, { id: runId })).body.data.workflowRun;
  const runCount = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0].n as number;

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/cb', () => ({ status: 204 }));
    hooks.route('/held', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: {} };
    });
    const created = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'answer',
      startStep: 'shape',
      steps: { shape: { type: 'transform', output: { answer: '{{payload.q}}' } } },
    });
    workflowId = created.workflow.id;
    secret = created.signingSecret;
    heldWorkflow = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'held',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${hooks.url}/held`, timeoutMs: 30_000 } },
      })
    ).workflow.id;
  });
  afterAll(() => hooks?.close());

  it('retries for at least an hour: the backoff delays of its retries add up to more than the window', () => {
    for (const delay of [1, 10, 60, 600]) {
      const limit = callbackRetryLimit(delay);
      // pg-boss waits delay·2^k·(1 to 2) before retry k + 1: the smallest total is delay·(2^limit − 1).
      expect(delay * (2 ** limit - 1)).toBeGreaterThanOrEqual(CALLBACK_RETRY_WINDOW_SECONDS);
      expect(limit).toBeLessThanOrEqual(16);
    }
  });

  it('refuses a callbackUrl that is not http or https with BAD_USER_INPUT and starts nothing', async () => {
    const teammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Caller', workflowId, channels: ['API'] })).id;
    const before = await runCount();
    for (const url of [
      'ftp://example.com/x',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'not a url',
      '/relative',
      'http://u:p@example.com/',
      `http://x/${'a'.repeat(2100)}`,
    ]) {
      for (const [query, id] of [
        [TRIGGER, workflowId],
        [CALL, teammate],
      ] as const) {
        const res = await ask(gw.url, query, { id, url });
        expect({ url, code: errorCode(res), argument: res.body.errors?.[0]?.extensions?.argument }).toEqual({
          url,
          code: 'BAD_USER_INPUT',
          argument: 'callbackUrl',
        });
      }
    }
    expect(await runCount()).toBe(before);
  });

  it('POSTs the end of the run, signed with the workflow secret, and shows where the callback stands', async () => {
    child = await startChildGateway(gw.database.url, ENV, { worker: true });
    const res = await ask(child.url, TRIGGER, { id: workflowId, payload: { q: 'why' }, url: `${hooks.url}/cb` });
    expect(res.body.errors).toBeUndefined();
    const { runId } = res.body.data.triggerWorkflow;
    expect(res.body.data.triggerWorkflow.run.callback).toEqual({ url: `${hooks.url}/cb`, attempts: 0, deliveredAt: null, lastError: null });
    const delivered = await waitFor(
      () => callbackOf(runId),
      (run) => run.callback.deliveredAt !== null,
      20_000,
      'the callback',
    );
    const received = hooks.received.filter((h) => h.path === '/cb');
    expect(received).toHaveLength(1);
    expect(received[0].body).toEqual({
      runId,
      workflowId,
      status: 'SUCCEEDED',
      output: { answer: 'why' },
      error: null,
      finishedAt: new Date(delivered.finishedAt).toISOString(),
    });
    expect(received[0].headers['content-type']).toBe('application/json');
    expect(signedWith(secret, received[0])).toBe(true);
    expect(signedWith('alloy_whsec_wrong', received[0])).toBe(false);
    expect(delivered.callback).toMatchObject({ attempts: 1, lastError: null });
  });

  it('a cancelled run calls back with CANCELLED', async () => {
    const res = await ask(child!.url, TRIGGER, { id: heldWorkflow, url: `${hooks.url}/cb` });
    const { runId } = res.body.data.triggerWorkflow;
    await waitFor(
      () => hooks.received.some((h) => h.path === '/held'),
      (seen) => seen,
      20_000,
      'the held step',
    );
    expect((await ask(gw.url, CANCEL, { id: runId })).body.data.cancelWorkflowRun.status).toBe('CANCELLED');
    await waitFor(
      () => callbackOf(runId),
      (run) => run.callback.deliveredAt !== null,
      20_000,
      'the callback',
    );
    const received = hooks.received.filter((h) => h.path === '/cb' && h.body.runId === runId);
    expect(received.map((h) => [h.body.status, h.body.error])).toEqual([['CANCELLED', 'The run was cancelled']]);
  });

  it('a receiver that is down for the first attempts, with the gateway restarted in between, still gets the callback once, when it is up', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/late`;
    const res = await ask(child!.url, TRIGGER, { id: workflowId, payload: { q: 'late' }, url });
    expect(res.body.errors).toBeUndefined();
    const { runId } = res.body.data.triggerWorkflow;
    const failing = await waitFor(
      () => callbackOf(runId),
      (run) => run.callback.attempts >= 2,
      30_000,
      'two failed attempts',
    );
    expect(failing.callback).toMatchObject({ url, deliveredAt: null, lastError: expect.stringMatching(/ECONNREFUSED/) });

    // The gateway goes down with the callback still owed; the receiver comes up; a new gateway starts.
    expect(await child!.stop()).toBe(0);
    child = undefined;
    const received: Array<{ body: any; headers: http.IncomingHttpHeaders; raw: string }> = [];
    const receiver = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        received.push({ body: JSON.parse(raw), headers: req.headers, raw });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    try {
      child = await startChildGateway(gw.database.url, ENV, { worker: true });
      const done = await waitFor(
        () => callbackOf(runId),
        (run) => run.callback.deliveredAt !== null,
        60_000,
        'the late callback',
      );
      expect(received).toHaveLength(1);
      expect(received[0].body).toMatchObject({ runId, status: 'SUCCEEDED', output: { answer: 'late' } });
      expect(signedWith(secret, received[0])).toBe(true);
      expect(done.callback.attempts).toBeGreaterThanOrEqual(3);
      expect(done.callback.lastError).toBeNull();
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
