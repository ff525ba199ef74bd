import { errorCode, graphql, GraphQLResponse, postGraphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { uploadFile } from './support/storage';
import { MAX_JSON_DEPTH } from '../src/validation/json-text';

/**
 * JSON payloads and inputs come back exactly as sent (key order, \u0000, astral characters) from
 * every place that keeps them: the run, the http step's request body, the transform output, the
 * request logs and the database row itself. Strings that are not valid Unicode (lone surrogates)
 * are refused with BAD_USER_INPUT naming the argument, wherever they would reach the database.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON, $key: String) {
  triggerWorkflow(workflowId: $id, payload: $payload, idempotencyKey: $key) { runId run { payload } }
}`;
const CALL = `mutation($id: ID!, $input: JSON!, $key: String) {
  callTeammate(teammateId: $id, input: $input, idempotencyKey: $key) { runId run { payload } }
}`;
const RUN = `query($id: ID!) { workflowRun(id: $id) { status payload output error steps } }`;
const LOGS = `query($id: ID!) { teammate(id: $id) { requestLogs(first: 5) { edges { node { runId request response } } } } }`;

/** A value whose every oddity a jsonb column would lose: key order, NUL, a key "__proto__", astral characters, a key that differs only in case. */
const AS_SENT = {
  zeta: 1,
  alpha: 'x\u0000y',
  '\u0000key': ['\u0000', '', 'tab\tand\nnewline', '\u001f\u007f'],
  __proto__fake: null,
  nested: { b: 2, a: 1, B: 3, '': 'empty key' },
  emoji: '😀 𝄞 é',
  numbers: [0, -1, 1.5, 1e21, 2 ** 53],
};
// A JSON text with a real "__proto__" key: JSON.parse keeps it as an own key.
const AS_SENT_TEXT = JSON.stringify(AS_SENT).replace('"__proto__fake":null', '"__proto__":{"polluted":true}');

/** POSTs a GraphQL request whose JSON text is given as is (lone surrogates cannot go through JSON.stringify unescaped). */
const rawGraphql = (url: string, apiKey: string, text: string): Promise<GraphQLResponse> =>
  postGraphql(url, text, { apiKey, contentType: 'application/json' });

describe('JSON payloads and inputs: kept as sent, refused when not valid Unicode', () => {
  let hooks: HookServer;
  const { gw, org } = useGatewayWithOrg({ orgName: 'Unicode' });
  let workflowId: string;
  let teammateId: string;

  const counts = async () =>
    (
      await gw.db
        .query(`SELECT (SELECT count(*)::int FROM workflow_runs) AS runs, (SELECT count(*)::int FROM workflow_idempotency_keys) AS keys,
      (SELECT count(*)::int FROM storage_entries) AS entries`)
    )[0];
  const finished = (apiKey: string, id: string) =>
    waitFor(
      async () => (await graphql(gw.url, RUN, { id }, { apiKey })).body.data?.workflowRun,
      (r) => r?.status === 'SUCCEEDED' || r?.status === 'FAILED',
      30_000,
      `run ${id}`,
    );

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/echo', ({ body }) => ({ status: 200, body: { got: body.payload } }));
    workflowId = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'as sent',
        startStep: 'call',
        steps: {
          call: { type: 'http', url: `${hooks.url}/echo`, next: 'shape' },
          shape: {
            type: 'transform',
            output: { whole: '{{payload}}', text: 'alpha={{payload.alpha}}', echoed: '{{steps.call.output.got}}' },
          },
        },
      })
    ).workflow.id;
    teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Echo', workflowId, channels: ['API'] })).id;
  });
  afterAll(() => hooks?.close());

  it('triggerWorkflow keeps the payload byte for byte: answer, database row, http step body, transform output', async () => {
    const res = await rawGraphql(
      gw.url,
      org.apiKey,
      `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":${AS_SENT_TEXT}}}`,
    );
    expect(res.body.errors).toBeUndefined();
    const { runId, run } = res.body.data.triggerWorkflow;
    expect(JSON.stringify(run.payload)).toBe(AS_SENT_TEXT);
    // The column keeps the very text: no key reordered, no escape rewritten.
    const [row] = await gw.db.query(`SELECT payload::text AS payload FROM workflow_runs WHERE id = $1`, [runId]);
    expect(row.payload).toBe(AS_SENT_TEXT);

    const done = await finished(org.apiKey, runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.stringify(done.payload)).toBe(AS_SENT_TEXT);
    const hook = hooks.received.find((h) => h.body?.run?.id === runId)!;
    expect(hook.raw).toContain(`"payload":${AS_SENT_TEXT}`);
    expect(JSON.stringify(done.output.whole)).toBe(AS_SENT_TEXT);
    expect(JSON.stringify(done.output.echoed)).toBe(AS_SENT_TEXT);
    expect(done.output.text).toBe('alpha=x\u0000y');
    expect(Object.getPrototypeOf(done.output.whole)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('callTeammate keeps its input byte for byte, in the run and in the request logs', async () => {
    const res = await rawGraphql(
      gw.url,
      org.apiKey,
      `{"query":${JSON.stringify(CALL)},"variables":{"id":"${teammateId}","input":${AS_SENT_TEXT}}}`,
    );
    expect(res.body.errors).toBeUndefined();
    const { runId } = res.body.data.callTeammate;
    await finished(org.apiKey, runId);
    const logs = await graphql(gw.url, LOGS, { id: teammateId }, { apiKey: org.apiKey });
    const log = logs.body.data.teammate.requestLogs.edges.map((e: any) => e.node).find((n: any) => n.runId === runId);
    expect(JSON.stringify(log.request)).toBe(AS_SENT_TEXT);
    expect(JSON.stringify(log.response.whole)).toBe(AS_SENT_TEXT);
  });

  it('accepts an idempotency key with any valid Unicode, and gives the same run back for it', async () => {
    const key = 'clé-😀-\u0007-\u2028';
    const first = await graphql(gw.url, TRIGGER, { id: workflowId, payload: { n: 1 }, key }, { apiKey: org.apiKey });
    const again = await graphql(gw.url, TRIGGER, { id: workflowId, payload: { n: 1 }, key }, { apiKey: org.apiKey });
    expect(first.body.errors).toBeUndefined();
    expect(again.body.data.triggerWorkflow.runId).toBe(first.body.data.triggerWorkflow.runId);
    const [row] = await gw.db.query(`SELECT key FROM workflow_idempotency_keys WHERE run_id = $1`, [first.body.data.triggerWorkflow.runId]);
    expect(row.key).toBe(key);
  });

  const refusals: Array<[string, () => string, string, RegExp]> = [
    [
      'a lone high surrogate in a payload string',
      () => `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":{"a":["ok","\\ud800"]}}}`,
      'payload',
      /Argument "payload" of triggerWorkflow is not valid Unicode at payload\.a\[1\]: a string holds a lone surrogate \(U\+D800\)/,
    ],
    [
      'a lone low surrogate in a payload key',
      () => `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":{"x\\udc00":1}}}`,
      'payload',
      /not valid Unicode at payload\["x\\udc00"\]: an object key holds a lone surrogate \(U\+DC00\)/,
    ],
    [
      'a lone surrogate in callTeammate input',
      () => `{"query":${JSON.stringify(CALL)},"variables":{"id":"${teammateId}","input":"\\ud83d"}}`,
      'input',
      /Argument "input" of callTeammate is not valid Unicode: a string holds a lone surrogate \(U\+D83D\)/,
    ],
    [
      'a lone surrogate in an idempotency key',
      () => `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","key":"k\\ud800"}}`,
      'idempotencyKey',
      /Argument "idempotencyKey" of triggerWorkflow is not valid Unicode/,
    ],
    [
      'a lone surrogate in a path',
      () => `{"query":"mutation($p: String!) { createFolder(path: $p) { id } }","variables":{"p":"/a\\udfff"}}`,
      'path',
      /Argument "path" of createFolder is not valid Unicode/,
    ],
    [
      'a lone surrogate in a name',
      () => `{"query":"mutation($n: String!) { renameEntry(path: \\"/x\\", name: $n) { id } }","variables":{"n":"\\ud800"}}`,
      'name',
      /Argument "name" of renameEntry/,
    ],
    [
      'a lone surrogate in a cursor',
      () => `{"query":"query($a: String) { teammates(after: $a) { totalCount } }","variables":{"a":"\\ud800"}}`,
      'after',
      /Argument "after" of teammates/,
    ],
    [
      'a payload nested deeper than the limit',
      () =>
        `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}}}`,
      'payload',
      new RegExp(`nested more than ${MAX_JSON_DEPTH} levels deep`),
    ],
    [
      'a payload nested 100,000 levels deep',
      () =>
        `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      'payload',
      /nested more than/,
    ],
  ];

  it.each(refusals)(
    'refuses %s with HTTP 400 BAD_USER_INPUT naming the argument, and stores nothing',
    async (_label, body, argument, message) => {
      const before = await counts();
      const res = await rawGraphql(gw.url, org.apiKey, body());
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.argument).toBe(argument);
      expect(res.body.errors![0].message).toMatch(message);
      expect(res.body.errors![0].extensions!.http).toBeUndefined();
      expect(await counts()).toEqual(before);
    },
  );

  it('accepts a payload nested exactly to the limit', async () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    const res = await rawGraphql(
      gw.url,
      org.apiKey,
      `{"query":${JSON.stringify(TRIGGER)},"variables":{"id":"${workflowId}","payload":${deep}}}`,
    );
    expect(res.body.errors).toBeUndefined();
    expect(JSON.stringify(res.body.data.triggerWorkflow.run.payload)).toBe(deep);
  });

  it('refuses an idempotency key holding NUL, naming it, and stores nothing', async () => {
    const before = await counts();
    const res = await graphql(gw.url, TRIGGER, { id: workflowId, payload: 1, key: 'a\u0000b' }, { apiKey: org.apiKey });
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.argument).toBe('idempotencyKey');
    expect(res.body.errors![0].message).toMatch(/NUL/);
    expect(await counts()).toEqual(before);
  });

  it('refuses a lone surrogate in the name of a multipart upload, and stores nothing', async () => {
    const before = await counts();
    const res = await uploadFile(gw.url, org.apiKey, '/', 'ok.txt', 'bytes', { name: 'bad\ud800.txt' });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.argument).toBe('name');
    expect(await counts()).toEqual(before);
  });

  it('keeps a workflow definition as written (\\u0000 and key order included), and lists a lone surrogate in it as a problem', async () => {
    const definition = JSON.parse('{"name":"nul","startStep":"s","steps":{"s":{"type":"transform","output":{"z":"\\u0000","a":1}}}}');
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, definition);
    const res = await graphql(
      gw.url,
      `
        query ($id: ID!) {
          workflow(id: $id) {
            definition
          }
        }
      `,
      { id: workflow.id },
      { apiKey: org.apiKey },
    );
    expect(JSON.stringify(res.body.data.workflow.definition)).toBe(JSON.stringify(definition));
    const broken = JSON.parse('{"name":"bad","steps":{"s":{"type":"transform","output":["\\ud800"]}}}');
    await expect(gw.services.workflows.createWorkflow(org.orgId, broken)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      details: { problems: [expect.stringMatching(/^steps\.s\.output\[0\] is not valid Unicode/)] },
    });
  });
});
