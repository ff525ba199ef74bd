import { runExample } from './support/readme';
import { startTestGateway, TestGateway } from './support/gateway';
import { HookServer, startHookServer, waitFor } from './support/hook-server';

describe('README examples: workflows and teammates', () => {
  let gw: TestGateway;
  let hooks: HookServer;
  let env: Record<string, string>;

  const runOf = async (id: string) =>
    (await gw.db.query(`SELECT status, output, error FROM workflow_runs WHERE id = $1`, [id]))[0] as { status: string; output: any; error: string | null };
  const finished = (id: string) => waitFor(() => runOf(id), (r) => r.status === 'SUCCEEDED' || r.status === 'FAILED', 30_000, `run ${id}`);

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/hook', ({ body }) => ({ status: 200, body: { received: body.payload.text } }));
    gw = await startTestGateway();
    const org = await gw.createOrg('Readme Workflows');
    // The README's notify.json, pointed at this test's hook server.
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'notify',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/hook`, next: 'shape' },
        shape: { type: 'transform', output: { echo: '{{payload.text}}', hook: '{{steps.call.output}}' } },
      },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Support bot', workflowId: workflow.id, channels: ['API'] });
    env = { ALLOY_URL: gw.url, API_KEY: org.apiKey, WORKFLOW_ID: workflow.id, TEAMMATE_ID: teammate.id };
  });
  afterAll(async () => {
    await gw.close();
    await hooks.close();
  });

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
    expect(api.examples.map((e: { language: string }) => e.language)).toEqual(['curl', 'graphql', 'javascript']);
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
});
