import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { waitFor, nextMillisecond } from './support/poll';
import { runBash } from './support/process';

const CALL = `mutation($id: ID!, $input: JSON!, $key: String) {
  callTeammate(teammateId: $id, input: $input, idempotencyKey: $key) { runId run { id status workflow { id } } }
}`;
const LOGS = `query($id: ID!, $first: Int, $after: String, $status: WorkflowRunStatus, $since: DateTime, $until: DateTime) {
  teammate(id: $id) {
    requestLogs(first: $first, after: $after, status: $status, since: $since, until: $until) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id runId status request response error durationMs apiKeyId createdAt finishedAt } }
    }
  }
}`;

describe('teammates: callTeammate, the API channel and request logs', () => {
  // The gateway runs the executor in process, as `npm start` does.
  const { gw, org } = useGatewayWithOrg({ orgName: 'Teammates Org' });
  let workflowId: string;
  let apiTeammate: string;
  let quietTeammate: string;

  const call = (id: string, input: unknown, apiKey = org.apiKey, key?: string) => graphql(gw.url, CALL, { id, input, key }, { apiKey });
  const logs = async (id: string, vars: Record<string, unknown> = {}, apiKey = org.apiKey) => {
    const res = await graphql(gw.url, LOGS, { id, ...vars }, { apiKey });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return res.body.data.teammate?.requestLogs;
  };
  const runStatus = async (id: string) =>
    (await gw.db.query(`SELECT status FROM workflow_runs WHERE id = $1`, [id]))[0]?.status as string | undefined;
  const runCount = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0].n as number;

  /** Request-log rows written directly (fast): `count` API runs of the teammate, oldest at `from`, `stepMs` apart. */
  const seed = async (teammateId: string, count: number, from: Date, stepMs: number, status = 'SUCCEEDED') => {
    // Runs are partitioned by day: the seeded days get theirs first.
    await gw.db.query(
      `SELECT alloy_create_run_partitions(($1::timestamptz AT TIME ZONE 'UTC')::date, (($1::timestamptz + $2 * interval '1 millisecond') AT TIME ZONE 'UTC')::date)`,
      [from.toISOString(), count * stepMs],
    );
    await gw.db.query(
      `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, api_key_id, status, payload, output,
                                  created_at, started_at, finished_at)
       SELECT gen_random_uuid(), $1, $2, 1, $3, 'API', $4, $5, jsonb_build_object('i', i), jsonb_build_object('o', i),
              $6::timestamptz + (i * $7) * interval '1 millisecond', $6::timestamptz + (i * $7) * interval '1 millisecond',
              $6::timestamptz + (i * $7 + 25) * interval '1 millisecond'
         FROM generate_series(0, $8 - 1) AS i`,
      [org.orgId, workflowId, teammateId, org.keyId, status, from.toISOString(), stepMs, count],
    );
  };

  beforeAll(async () => {
    ({
      workflow: { id: workflowId },
    } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'answer',
      startStep: 'reply',
      steps: { reply: { type: 'transform', output: { reply: 'You said: {{payload.message}}' } } },
    }));
    apiTeammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Helper', workflowId, channels: ['API'] })).id;
    quietTeammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Quiet', workflowId, channels: [] })).id;
  });

  it('refuses a teammate without the API channel with CHANNEL_DISABLED and creates nothing', async () => {
    const before = await runCount();
    const res = await call(quietTeammate, { message: 'hi' });
    expect(errorCode(res)).toBe('CHANNEL_DISABLED');
    expect(res.body.data).toBeNull();
    expect(await runCount()).toBe(before);
  });

  it('answers NOT_FOUND for a missing or malformed teammate id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'nope']) expect(errorCode(await call(id, {}))).toBe('NOT_FOUND');
  });

  it('starts the workflow on the API channel, records the calling key, and shows the call in requestLogs', async () => {
    const second = await gw.admin.organizations.createKey(org.orgId, 'integration');
    const res = await call(apiTeammate, { message: 'ping' }, second.apiKey);
    expect(res.body.errors).toBeUndefined();
    const { runId, run } = res.body.data.callTeammate;
    expect(run).toEqual({ id: runId, status: 'QUEUED', workflow: { id: workflowId } });
    await waitFor(
      () => runStatus(runId),
      (s) => s === 'SUCCEEDED',
      30_000,
      'the call to finish',
    );

    const page = await logs(apiTeammate);
    const log = page.edges.find((e: any) => e.node.runId === runId).node;
    expect(log).toMatchObject({
      id: runId,
      status: 'SUCCEEDED',
      request: { message: 'ping' },
      response: { reply: 'You said: ping' },
      error: null,
      apiKeyId: second.keyId,
    });
    expect(log.durationMs).toBe(new Date(log.finishedAt).getTime() - new Date(log.createdAt).getTime());
    // triggerWorkflow runs of the same workflow are not request logs of the teammate.
    await graphql(
      gw.url,
      'mutation($id: ID!) { triggerWorkflow(workflowId: $id, payload: {message: "direct"}) { runId } }',
      { id: workflowId },
      { apiKey: org.apiKey },
    );
    expect((await logs(apiTeammate)).totalCount).toBe(page.totalCount);
  });

  it('returns the same run for a repeated idempotency key', async () => {
    const a = await call(apiTeammate, { message: 'once' }, org.apiKey, 'call-1');
    const b = await call(apiTeammate, { message: 'once' }, org.apiKey, 'call-1');
    expect(b.body.data.callTeammate.runId).toBe(a.body.data.callTeammate.runId);
    expect(errorCode(await call(apiTeammate, { message: 'twice' }, org.apiKey, 'call-1'))).toBe('BAD_USER_INPUT');
  });

  it('filters request logs by status and by time (since inclusive, until exclusive)', async () => {
    const teammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Filtered', workflowId, channels: ['API'] })).id;
    // Three days ago at midnight UTC: inside the run retention (90 days), so that the retention
    // job, which may run at any moment, leaves the seeded logs alone.
    const day = new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10);
    const at = (time: string) => `${day}T${time}.000Z`;
    await seed(teammate, 10, new Date(at('00:00:00')), 60_000, 'SUCCEEDED'); // 00:00 … 00:09
    await seed(teammate, 5, new Date(at('00:00:30')), 60_000, 'FAILED'); // 00:00:30 … 00:04:30

    expect((await logs(teammate)).totalCount).toBe(15);
    const failed = await logs(teammate, { status: 'FAILED' });
    expect(failed.totalCount).toBe(5);
    expect(failed.edges.every((e: any) => e.node.status === 'FAILED')).toBe(true);

    const window = await logs(teammate, { since: at('00:02:00'), until: at('00:05:00') });
    // SUCCEEDED at 00:02, 00:03, 00:04 and FAILED at 00:02:30, 00:03:30, 00:04:30.
    expect(window.totalCount).toBe(6);
    const times = window.edges.map((e: any) => e.node.createdAt);
    expect(times).toEqual([...times].sort().reverse()); // newest first
    expect(times[0]).toBe(at('00:04:30'));
    expect(times.at(-1)).toBe(at('00:02:00'));

    const both = await logs(teammate, { status: 'SUCCEEDED', since: at('00:08:00') });
    expect(both.edges.map((e: any) => e.node.request)).toEqual([{ i: 9 }, { i: 8 }]);

    const inverted = await graphql(
      gw.url,
      LOGS,
      { id: teammate, since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' },
      { apiKey: org.apiKey },
    );
    expect(errorCode(inverted)).toBe('BAD_USER_INPUT');
    const tooMany = await graphql(gw.url, LOGS, { id: teammate, first: 101 }, { apiKey: org.apiKey });
    expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
    const badCursor = await graphql(gw.url, LOGS, { id: teammate, after: 'bm90IGEgY3Vyc29y' }, { apiKey: org.apiKey });
    expect(errorCode(badCursor)).toBe('BAD_USER_INPUT');
  });

  it('pages through 1,000 logs while 100 new ones arrive, visiting each original exactly once', async () => {
    const teammate = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Busy', workflowId, channels: ['API'] })).id;
    // 1,000 rows, three per millisecond, so that many share a createdAt and the id breaks the tie.
    await gw.db.query(
      `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload, created_at)
       SELECT gen_random_uuid(), $1, $2, 1, $3, 'API', 'SUCCEEDED', jsonb_build_object('i', i),
              now() - interval '1 hour' + (i / 3) * interval '1 millisecond'
         FROM generate_series(0, 999) AS i`,
      [org.orgId, workflowId, teammate],
    );
    const originals: string[] = (await gw.db.query(`SELECT id FROM workflow_runs WHERE teammate_id = $1`, [teammate])).map(
      (r: any) => r.id,
    );
    expect(originals).toHaveLength(1000);

    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: any = await logs(teammate, { first: 100, after });
      seen.push(...page.edges.map((e: any) => e.node.id));
      pages += 1;
      // Ten new calls arrive between pages: five real API calls, five written directly.
      if (pages <= 10) {
        await Promise.all(Array.from({ length: 5 }, (_, i) => call(teammate, { message: `new ${pages}.${i}` })));
        await gw.db.query(
          `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload)
           SELECT gen_random_uuid(), $1, $2, 1, $3, 'API', 'QUEUED', '{}' FROM generate_series(1, 5)`,
          [org.orgId, workflowId, teammate],
        );
      }
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(1000);
    expect(new Set(seen).size).toBe(1000);
    expect([...seen].sort()).toEqual([...originals].sort());
    expect((await logs(teammate)).totalCount).toBe(1100);
  });

  it('lists teammates as a Relay connection and loads their workflows in one batch', async () => {
    const other = await gw.createOrg('Listing Org');
    const { workflow } = await gw.services.workflows.createWorkflow(other.orgId, {
      name: 'w',
      startStep: 's',
      steps: { s: { type: 'transform', output: 1 } },
    });
    for (let i = 0; i < 5; i++) {
      await nextMillisecond();
      await gw.services.teammates.createTeammate(other.orgId, { name: `T${i}`, workflowId: workflow.id, channels: ['API'] });
    }
    const spy = jest.spyOn(gw.services.workflows, 'workflowsByIds');
    const query = `query($after: String) { teammates(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name channels workflow { id name } } } } }`;
    const names: string[] = [];
    let after: string | null = null;
    for (;;) {
      const res: any = await graphql(gw.url, query, { after }, { apiKey: other.apiKey });
      const conn = res.body.data.teammates;
      expect(conn.totalCount).toBe(5);
      for (const edge of conn.edges) {
        names.push(edge.node.name);
        expect(edge.node.workflow).toEqual({ id: workflow.id, name: 'w' });
        expect(edge.node.channels).toEqual(['API']);
      }
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(names).toEqual(['T0', 'T1', 'T2', 'T3', 'T4']);
    // Three pages, one workflow lookup per page (not one per teammate).
    expect(spy).toHaveBeenCalledTimes(3);
    spy.mockRestore();
  });

  it('gives typed, ready-to-paste API examples that work: curl, GraphQL and JavaScript fetch', async () => {
    const res = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          teammate(id: $id) {
            id
            name
            channels
            api {
              endpoint
              playgroundUrl
              examples {
                language
                title
                code
              }
            }
          }
        }
      `,
      { id: apiTeammate },
      { apiKey: org.apiKey },
    );
    expect(res.body.errors).toBeUndefined();
    const { api } = res.body.data.teammate;
    expect(api.endpoint).toBe(`${gw.url}/graphql`);
    expect(api.examples.map((e: { language: string }) => e.language)).toEqual(['curl', 'graphql', 'javascript', 'curl', 'curl', 'curl']);
    for (const example of api.examples) {
      expect(example).toEqual({
        language: expect.any(String),
        title: expect.stringMatching(/\S/),
        code: expect.stringContaining(apiTeammate),
      });
    }
    const [curlCall, graphqlCall, javascriptCall, curlWithFile] = api.examples.map((e: { code: string }) => e.code);

    const curl = await runBash(curlCall, { API_KEY: org.apiKey });
    expect(curl.code).toBe(0);
    const curlRun = JSON.parse(curl.stdout).data.callTeammate;
    expect(curlRun.run.status).toBe('QUEUED');

    // The JavaScript example is a conversation of two turns: it prints the second, which continues the first.
    const js = await runBash(`node -e "$EXAMPLE"`, { API_KEY: org.apiKey, EXAMPLE: javascriptCall });
    expect(js.code).toBe(0);
    const jsRun = JSON.parse(js.stdout).data.callTeammate;
    expect(jsRun.run).toMatchObject({ status: 'SUCCEEDED', output: { reply: 'You said: Tell me more' } });
    const turns = await gw.db.query(`SELECT payload FROM workflow_runs WHERE conversation_id = $1 ORDER BY created_at`, [
      jsRun.conversationId,
    ]);
    expect(turns.map((t: { payload: unknown }) => t.payload)).toEqual([{ message: 'Hello' }, { message: 'Tell me more' }]);

    const document = graphqlCall;
    const variables = JSON.parse(/# variables: (.*)$/m.exec(document)![1]);
    const gql = await graphql(gw.url, document, variables, { apiKey: org.apiKey });
    const gqlRun = gql.body.data.callTeammate;

    // The file example hands over the file the README's upload example stores.
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({ query: 'mutation($f: Upload!) { uploadFile(folder: "/reports/2024", file: $f) { id } }', variables: { f: null } }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob(['quarterly numbers\n']), 'report.txt');
    expect((await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'api-key': org.apiKey }, body: form })).status).toBe(200);
    const withFile = await runBash(curlWithFile, { API_KEY: org.apiKey });
    expect(withFile.code).toBe(0);
    const fileRun = JSON.parse(withFile.stdout).data.callTeammate;
    expect(fileRun.run.files).toEqual([{ path: '/reports/2024/report.txt', md5: expect.stringMatching(/^[0-9a-f]{32}$/) }]);

    for (const runId of [curlRun.runId, jsRun.runId, gqlRun.runId, fileRun.runId]) {
      await waitFor(
        () => runStatus(runId),
        (s) => s === 'SUCCEEDED',
        30_000,
        'the example call to finish',
      );
    }
    const page = await logs(apiTeammate, { first: 10 });
    const logged = page.edges.map((e: any) => e.node.runId);
    expect(logged).toEqual(expect.arrayContaining([curlRun.runId, jsRun.runId, gqlRun.runId, fileRun.runId]));
    expect(page.edges.find((e: any) => e.node.runId === curlRun.runId).node.response).toEqual({ reply: 'You said: Hello' });

    // Following a call: curl -N prints its events as server-sent events and ends with the run.
    const follow = await runBash(api.examples[4].code, { API_KEY: org.apiKey });
    expect(follow.code).toBe(0);
    const ids = [...follow.stdout.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    const last = JSON.parse([...follow.stdout.matchAll(/^data: (.*)$/gm)].pop()![1]);
    expect(last).toMatchObject({ type: 'STATUS', data: 'SUCCEEDED' });

    // Stopping a call: the run ends CANCELLED, or had already finished (a transform answers at once).
    const cancel = await runBash(api.examples[5].code, { API_KEY: org.apiKey });
    expect(cancel.code).toBe(0);
    const cancelled = JSON.parse(cancel.stdout).data.cancelWorkflowRun;
    expect(['CANCELLED', 'SUCCEEDED']).toContain(cancelled.status);
    expect(await runStatus(cancelled.id)).toBe(cancelled.status);
  });

  it("gives a playgroundUrl holding the teammate's callTeammate operation and variables (and no key), which runs as it is", async () => {
    const res = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          teammate(id: $id) {
            api {
              playgroundUrl
            }
          }
        }
      `,
      { id: apiTeammate },
      { apiKey: org.apiKey },
    );
    const url = new URL(res.body.data.teammate.api.playgroundUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${gw.url}/graphql`);
    expect([...url.searchParams.keys()].sort()).toEqual(['query', 'variables']);
    expect(url.href).not.toContain(org.apiKey.slice(0, 20));
    const query = url.searchParams.get('query')!;
    const variables = JSON.parse(url.searchParams.get('variables')!);
    expect(query).toMatch(/^mutation CallTeammate\(/);
    expect(variables).toEqual({ teammateId: apiTeammate, input: { message: 'Hello' }, conversationId: null, files: [] });
    // What the playground sends once a key is pasted: the operation and variables of the link.
    const called = await graphql(gw.url, query, variables, { apiKey: org.apiKey });
    expect(called.body.errors).toBeUndefined();
    const { runId } = called.body.data.callTeammate;
    await waitFor(
      () => runStatus(runId),
      (s) => s === 'SUCCEEDED',
      30_000,
      'the playground call to finish',
    );
    // The page it opens is the playground, for browsers.
    const page = await fetch(url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });

  it("shows another organization nothing of this one's workflows, runs and teammates", async () => {
    const intruder = await gw.createOrg('Intruder');
    const runId = (await call(apiTeammate, { message: 'secret' })).body.data.callTeammate.runId;
    const as = (query: string, variables: Record<string, unknown>) => graphql(gw.url, query, variables, { apiKey: intruder.apiKey });

    expect((await as('query($id: ID!) { workflow(id: $id) { id } }', { id: workflowId })).body).toEqual({ data: { workflow: null } });
    expect((await as('query($id: ID!) { workflowRun(id: $id) { id } }', { id: runId })).body).toEqual({ data: { workflowRun: null } });
    for (const id of [apiTeammate, quietTeammate]) {
      expect((await as('query($id: ID!) { teammate(id: $id) { id } }', { id })).body).toEqual({ data: { teammate: null } });
      expect(errorCode(await as(CALL, { id, input: {} }))).toBe('NOT_FOUND');
    }
    expect(errorCode(await as('mutation($id: ID!) { triggerWorkflow(workflowId: $id) { runId } }', { id: workflowId }))).toBe(
      'WORKFLOW_NOT_FOUND',
    );
    expect((await as('{ teammates { totalCount edges { node { id } } } }', {})).body).toEqual({
      data: { teammates: { totalCount: 0, edges: [] } },
    });
    // And the intruder's attempts started nothing.
    const [{ n }] = await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE organization_id = $1`, [intruder.orgId]);
    expect(n).toBe(0);
  });
});
