import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readmeExample, runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { ROOT, WatchedProcess } from './support/process';
import { md5, uploadFile } from './support/storage';

describe('README examples: workflows and teammates', () => {
  let hooks: HookServer;
  let env: Record<string, string>;
  const { gw, org } = useGatewayWithOrg({ orgName: 'Readme Workflows' });

  const runOf = async (id: string) =>
    (await gw.db.query(`SELECT status, output, error FROM workflow_runs WHERE id = $1`, [id]))[0] as {
      status: string;
      output: any;
      error: string | null;
    };
  const finished = (id: string) =>
    waitFor(
      () => runOf(id),
      (r) => r.status === 'SUCCEEDED' || r.status === 'FAILED',
      30_000,
      `run ${id}`,
    );

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/hook', ({ body }) => ({ status: 200, body: { received: body.payload.text } }));
    // The README's notify.json, pointed at this test's hook server.
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'notify',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/hook`, next: 'shape' },
        shape: { type: 'transform', output: { echo: '{{payload.text}}', hook: '{{steps.call.output}}' } },
      },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, {
      name: 'Support bot',
      workflowId: workflow.id,
      channels: ['API'],
    });
    env = { ALLOY_URL: gw.url, API_KEY: org.apiKey, WORKFLOW_ID: workflow.id, TEAMMATE_ID: teammate.id };
  });
  afterAll(() => hooks?.close());

  it('triggers a workflow with curl, and the run succeeds with the output the README describes', async () => {
    const { stdout, stderr, code } = await runExample('trigger-workflow', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const { runId, run } = JSON.parse(stdout).data.triggerWorkflow;
    expect(run.status).toBe('QUEUED');
    expect(await finished(runId)).toEqual({ status: 'SUCCEEDED', output: { echo: 'hello', hook: { received: 'hello' } }, error: null });
    // Its idempotency key makes a second paste return the same run.
    const again = await runExample('trigger-workflow', env);
    expect(JSON.parse(again.stdout).data.triggerWorkflow.runId).toBe(runId);
  });

  it("lists the organization's workflows with curl, as the README shows", async () => {
    const { stdout, stderr, code } = await runExample('list-workflows', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      data: {
        workflows: {
          totalCount: 1,
          pageInfo: { hasNextPage: false, endCursor: expect.any(String) },
          edges: [{ node: { id: env.WORKFLOW_ID, name: 'notify', startable: true, version: 1, updatedAt: expect.any(String) } }],
        },
      },
    });
  });

  it("reads a teammate's API tab with curl: endpoint, typed examples holding its id, and the playground link", async () => {
    const { stdout, stderr, code } = await runExample('teammate-api', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const { api } = JSON.parse(stdout).data.teammate;
    expect(api.endpoint).toBe(`${env.ALLOY_URL}/graphql`);
    expect(api.examples.map((e: { language: string }) => e.language)).toEqual(['curl', 'graphql', 'javascript', 'curl', 'curl', 'curl']);
    for (const example of api.examples) expect(example.code).toContain(env.TEAMMATE_ID);
    const link = new URL(api.playgroundUrl);
    expect(`${link.origin}${link.pathname}`).toBe(`${env.ALLOY_URL}/graphql`);
    expect(link.searchParams.get('query')).toMatch(/callTeammate/);
    expect(JSON.parse(link.searchParams.get('variables')!).teammateId).toBe(env.TEAMMATE_ID);
  });

  it('calls a teammate with curl and finds the call in its request logs', async () => {
    const call = await runExample('call-teammate', env);
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    const { runId } = JSON.parse(call.stdout).data.callTeammate;
    expect((await finished(runId)).status).toBe('SUCCEEDED');

    const logs = await runExample('request-logs', env);
    expect(logs.code).toBe(0);
    const { requestLogs } = JSON.parse(logs.stdout).data.teammate;
    expect(requestLogs.totalCount).toBe(1);
    expect(requestLogs.edges[0].node).toMatchObject({
      runId,
      status: 'SUCCEEDED',
      request: { text: 'Where is my order?' },
      response: { echo: 'Where is my order?', hook: { received: 'Where is my order?' } },
    });
  });

  it('triggers a workflow with waitSeconds and gets the finished run with its output in the answer', async () => {
    const { stdout, stderr, code } = await runExample('trigger-and-wait', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const { runId, run } = JSON.parse(stdout).data.triggerWorkflow;
    expect(run).toEqual({ status: 'SUCCEEDED', output: { echo: 'hello', hook: { received: 'hello' } }, error: null });
    expect(await runOf(runId)).toEqual({ status: 'SUCCEEDED', output: run.output, error: null });
  });

  it('calls a teammate with waitSeconds and gets its answer', async () => {
    const { stdout, stderr, code } = await runExample('call-teammate-and-wait', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).data.callTeammate.run).toEqual({
      status: 'SUCCEEDED',
      output: { echo: 'Where is my order?', hook: { received: 'Where is my order?' } },
    });
  });

  it("follows a run with the README's subscription client until it has finished, each status once and in order", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-watch-'));
    const script = path.join(dir, 'watch-run.js');
    fs.writeFileSync(script, readmeExample('watch-run', 'js'));
    const node = (extra: Record<string, string>) => {
      // NODE_PATH: the script lives outside the checkout, its packages are this checkout's.
      const child = new WatchedProcess(process.execPath, [script], {
        cwd: ROOT,
        env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ALLOY_URL: gw.url, API_KEY: env.API_KEY, ...extra },
      });
      return { output: child, exited: child.finished.then(({ code }) => code) };
    };
    // The README's hook, held until the script has shown the run RUNNING.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    hooks.route('/hook', async ({ body }) => {
      await answered;
      return { status: 200, body: { received: body.payload.text } };
    });
    try {
      const trigger = await gw.services.workflows.startRun({
        organizationId: org.orgId,
        workflowId: env.WORKFLOW_ID,
        payload: { text: 'watched' },
        channel: 'TRIGGER',
      });
      await waitFor(
        async () => hooks.received.filter((h) => h.body?.run?.id === trigger.id).length,
        (n) => n === 1,
        30_000,
        'the run to call the hook',
      );
      const watched = node({ RUN_ID: trigger.id });
      await waitFor(
        async () => watched.output.stdout,
        (text) => text.includes('\n'),
        30_000,
        'the first update',
      );
      answer();
      expect(await watched.exited).toBe(0);
      expect(watched.output.stderr).toBe('');
      expect(
        watched.output.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      ).toEqual([
        { status: 'RUNNING', output: null, error: null },
        { status: 'SUCCEEDED', output: { echo: 'watched', hook: { received: 'watched' } }, error: null },
      ]);

      const refused = node({ RUN_ID: trigger.id, API_KEY: 'alloy_sk_unknown_key' });
      expect(await refused.exited).toBe(1);
      expect(refused.output.stderr).toMatch(/^closed 4403: /);
    } finally {
      answer();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("follows a run's events with the README's curl -N until the run has ended, and cancels a run with its curl", async () => {
    // Held until curl has shown the run's first events: they arrive while it runs.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    hooks.route('/hook', async ({ body }) => {
      await answered;
      return { status: 200, body: { received: body.payload.text } };
    });
    try {
      const run = await gw.services.workflows.startRun({
        organizationId: org.orgId,
        workflowId: env.WORKFLOW_ID,
        payload: { text: 'streamed' },
        channel: 'TRIGGER',
      });
      const curl = new WatchedProcess('bash', ['-c', `set -euo pipefail\n${readmeExample('run-events')}`], {
        cwd: ROOT,
        env: { ...process.env, ...env, RUN_ID: run.id },
      });
      await curl.waitForOutput(/"data":"RUNNING"/, 30_000);
      answer();
      expect((await curl.finished).code).toBe(0);
      const ids = [...curl.stdout.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual(ids.map((_, i) => i + 1));
      const events = [...curl.stdout.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]));
      expect(events.map((e) => [e.type, e.step, e.data])).toEqual([
        ['STATUS', null, 'QUEUED'],
        ['STATUS', null, 'RUNNING'],
        ['STEP_STARTED', 'call', null],
        ['STEP_FINISHED', 'call', 200],
        ['STEP_STARTED', 'shape', null],
        ['STEP_FINISHED', 'shape', null],
        ['STATUS', null, 'SUCCEEDED'],
      ]);

      // Cancelling: a run held in its http step ends CANCELLED.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      hooks.route('/hook', async () => {
        await released;
        return { status: 200, body: {} };
      });
      const held = await gw.services.workflows.startRun({
        organizationId: org.orgId,
        workflowId: env.WORKFLOW_ID,
        payload: { text: 'stopped' },
        channel: 'TRIGGER',
      });
      await waitFor(async () => hooks.received.some((h) => h.body?.run?.id === held.id), Boolean, 30_000, 'the run to call the hook');
      const cancelled = await runExample('cancel-run', { ...env, RUN_ID: held.id });
      release();
      expect(cancelled.stderr).toBe('');
      expect(JSON.parse(cancelled.stdout)).toEqual({ data: { cancelWorkflowRun: { status: 'CANCELLED' } } });
      expect((await runOf(held.id)).status).toBe('CANCELLED');
    } finally {
      answer();
      hooks.route('/hook', ({ body }) => ({ status: 200, body: { received: body.payload.text } }));
    }
  });

  it('holds a two-turn conversation with curl: the second turn continues the first, and its step gets the first turn', async () => {
    const { stdout, stderr, code } = await runExample('conversation', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const second = JSON.parse(stdout).data.callTeammate;
    expect(second.run.status).toBe('SUCCEEDED');
    const turns = await gw.db.query(`SELECT id, payload FROM workflow_runs WHERE conversation_id = $1 ORDER BY created_at`, [
      second.conversationId,
    ]);
    expect(turns.map((t: { payload: unknown }) => t.payload)).toEqual([{ text: 'Where is my order?' }, { text: 'It is order 1001' }]);
    const hook = hooks.received.find((h) => h.body?.run?.id === second.runId)!;
    expect(hook.body.conversation.messages.map((m: { role: string; content: unknown }) => [m.role, m.content])).toEqual([
      ['user', { text: 'Where is my order?' }],
      ['teammate', { echo: 'Where is my order?', hook: { received: 'Where is my order?' } }],
    ]);

    const read = await runExample('conversation-messages', env);
    expect(read.stderr).toBe('');
    expect(read.code).toBe(0);
    const { conversations } = JSON.parse(read.stdout).data.teammate;
    const latest = conversations.edges[0].node;
    expect(latest).toMatchObject({ id: second.conversationId, title: 'Where is my order?' });
    expect(latest.messages.totalCount).toBe(4);
    expect(latest.messages.edges.map((e: { node: { role: string } }) => e.node.role)).toEqual(['user', 'teammate', 'user', 'teammate']);
  });

  it('hands a teammate a file of the storage with curl: its step gets a link that serves the bytes', async () => {
    const bytes = 'quarterly numbers\n';
    expect((await uploadFile(gw.url, org.apiKey, '/reports/2024', 'report.txt', bytes)).body.errors).toBeUndefined();
    const { stdout, stderr, code } = await runExample('call-teammate-with-file', env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const { runId, run } = JSON.parse(stdout).data.callTeammate;
    expect(run).toEqual({ status: 'SUCCEEDED', files: [{ path: '/reports/2024/report.txt', size: bytes.length, md5: md5(bytes) }] });
    const [file] = hooks.received.find((h) => h.body?.run?.id === runId)!.body.files;
    const fetched = await fetch(file.downloadUrl);
    expect(fetched.status).toBe(200);
    expect(await fetched.text()).toBe(bytes);
  });
});
