import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg, TestOrg } from './support/gateway';
import { startHookServer, HookServer, ReceivedHook } from './support/hook-server';
import { nextMillisecond, waitFor } from './support/poll';

const CALL = `mutation($id: ID!, $input: JSON!, $conversationId: ID, $key: String, $wait: Int) {
  callTeammate(teammateId: $id, input: $input, conversationId: $conversationId, idempotencyKey: $key, waitSeconds: $wait) {
    runId conversationId run { id status output error conversation { id title teammate { id } } }
  }
}`;
const CONVERSATION = `query($id: ID!, $first: Int, $after: String) {
  conversation(id: $id) {
    id title createdAt updatedAt teammate { id }
    messages(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { role content runId at } } }
  }
}`;
const CONVERSATIONS = `query($id: ID!, $first: Int, $after: String) {
  teammate(id: $id) { conversations(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id title } } } }
}`;
const LOGS = `query($id: ID!, $conversationId: ID) {
  teammate(id: $id) { requestLogs(first: 50, conversationId: $conversationId) { totalCount edges { node { runId status conversationId request } } } }
}`;

describe('conversations: callTeammate turns, CONVERSATION_BUSY, reading and managing conversations', () => {
  let hooks: HookServer;
  const { gw, org } = useGatewayWithOrg({ orgName: 'Conversations Org', beforeClose: () => hooks?.close() });
  let teammateId: string;
  let otherTeammateId: string;
  let other: TestOrg;
  let otherOrgTeammateId: string;
  /** While set, the hook holds every answer until it resolves (a turn caught RUNNING). */
  let gate: Promise<void> | null = null;

  const call = (vars: Record<string, unknown>, apiKey = org.apiKey) =>
    graphql(gw.url, CALL, { id: teammateId, wait: 10, ...vars }, { apiKey });
  const ok = async (vars: Record<string, unknown>, apiKey = org.apiKey) => {
    const res = await call(vars, apiKey);
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return res.body.data.callTeammate;
  };
  const query = async (q: string, vars: Record<string, unknown>, apiKey = org.apiKey) => {
    const res = await graphql(gw.url, q, vars, { apiKey });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return res.body.data;
  };
  const hookOf = (runId: string): ReceivedHook => hooks.received.find((h) => h.body?.run?.id === runId)!;
  const runsOf = async (conversationId: string) =>
    (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE conversation_id = $1`, [conversationId]))[0].n as number;
  const counts = async () =>
    (
      await gw.db.query(
        `SELECT (SELECT count(*)::int FROM workflow_runs) AS runs, (SELECT count(*)::int FROM conversations) AS conversations`,
      )
    )[0] as { runs: number; conversations: number };

  beforeAll(async () => {
    hooks = await startHookServer();
    hooks.route('/turn', async (hook) => {
      if (gate) await gate;
      const input = hook.body.payload;
      if (input?.fail) return { status: 500, body: { error: 'the model is down' } };
      return { status: 200, body: { reply: `answer to ${input?.text}` } };
    });
    const definition = { name: 'chat', startStep: 'ask', steps: { ask: { type: 'http', url: `${hooks.url}/turn` } } };
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, definition);
    teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Chat', workflowId: workflow.id, channels: ['API'] })).id;
    otherTeammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Other', workflowId: workflow.id, channels: ['API'] }))
      .id;
    other = await gw.createOrg('Conversations Other Org');
    const { workflow: foreign } = await gw.services.workflows.createWorkflow(other.orgId, definition);
    otherOrgTeammateId = (
      await gw.services.teammates.createTeammate(other.orgId, { name: 'Foreign', workflowId: foreign.id, channels: ['API'] })
    ).id;
  });

  it('hands each turn the earlier turns in order, and answers with the conversation', async () => {
    const first = await ok({ input: { text: 'What is 2 + 2?' } });
    expect(first.run.status).toBe('SUCCEEDED');
    const conversationId = first.conversationId;
    expect(conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.run.conversation).toEqual({ id: conversationId, title: 'What is 2 + 2?', teammate: { id: teammateId } });
    expect(hookOf(first.runId).body.conversation).toEqual({ id: conversationId, messages: [], omittedTurns: 0 });

    const second = await ok({ input: { text: 'And times 3?' }, conversationId });
    expect(second.conversationId).toBe(conversationId);
    expect(second.run.status).toBe('SUCCEEDED');
    const third = await ok({ input: { text: 'Thanks' }, conversationId });
    expect(third.run.output).toEqual({ reply: 'answer to Thanks' });

    const received = hookOf(third.runId).body.conversation;
    expect(received.id).toBe(conversationId);
    expect(received.messages.map((m: { role: string; content: unknown; runId: string }) => [m.role, m.content, m.runId])).toEqual([
      ['user', { text: 'What is 2 + 2?' }, first.runId],
      ['teammate', { reply: 'answer to What is 2 + 2?' }, first.runId],
      ['user', { text: 'And times 3?' }, second.runId],
      ['teammate', { reply: 'answer to And times 3?' }, second.runId],
    ]);
    const times = received.messages.map((m: { at: string }) => Date.parse(m.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // The second turn saw only the first.
    expect(hookOf(second.runId).body.conversation.messages.map((m: { runId: string }) => m.runId)).toEqual([first.runId, first.runId]);

    const { conversation } = await query(CONVERSATION, { id: conversationId, first: 4 });
    expect(conversation.title).toBe('What is 2 + 2?');
    expect(conversation.messages.totalCount).toBe(6);
    expect(conversation.messages.pageInfo.hasNextPage).toBe(true);
    const rest = await query(CONVERSATION, { id: conversationId, first: 4, after: conversation.messages.pageInfo.endCursor });
    const all = [...conversation.messages.edges, ...rest.conversation.messages.edges].map(
      (e: { node: { role: string; runId: string } }) => [e.node.role, e.node.runId],
    );
    expect(all).toEqual([
      ['user', first.runId],
      ['teammate', first.runId],
      ['user', second.runId],
      ['teammate', second.runId],
      ['user', third.runId],
      ['teammate', third.runId],
    ]);
    expect(rest.conversation.messages.pageInfo.hasNextPage).toBe(false);
  });

  it('leaves a failed turn out of the messages, while it stays a run in the request logs', async () => {
    const first = await ok({ input: { text: 'hello' } });
    const conversationId = first.conversationId;
    const failed = await ok({ input: { text: 'boom', fail: true }, conversationId });
    expect(failed.run.status).toBe('FAILED');
    const next = await ok({ input: { text: 'again' }, conversationId });
    expect(next.run.status).toBe('SUCCEEDED');
    expect(hookOf(next.runId).body.conversation.messages.map((m: { content: unknown }) => m.content)).toEqual([
      { text: 'hello' },
      { reply: 'answer to hello' },
    ]);
    const { conversation } = await query(CONVERSATION, { id: conversationId });
    expect(conversation.messages.totalCount).toBe(4);
    expect(conversation.messages.edges.map((e: { node: { runId: string } }) => e.node.runId)).not.toContain(failed.runId);
    const logs = (await query(LOGS, { id: teammateId, conversationId })).teammate.requestLogs;
    expect(logs.totalCount).toBe(3);
    expect(
      logs.edges.map((e: { node: { runId: string; status: string; conversationId: string } }) => [e.node.runId, e.node.status]),
    ).toEqual([
      [next.runId, 'SUCCEEDED'],
      [failed.runId, 'FAILED'],
      [first.runId, 'SUCCEEDED'],
    ]);
    expect(logs.edges.every((e: { node: { conversationId: string } }) => e.node.conversationId === conversationId)).toBe(true);
  });

  describe('one turn at a time', () => {
    let release: () => void = () => undefined;
    afterEach(() => {
      release();
      gate = null;
    });

    it('refuses a call while the previous turn runs with CONVERSATION_BUSY, starting nothing; the same key returns the first run', async () => {
      const { conversationId } = await ok({ input: { text: 'start' } });
      gate = new Promise((resolve) => (release = resolve));
      const running = await ok({ input: { text: 'slow one' }, conversationId, key: 'turn-2', wait: 0 });
      await waitFor(() => hooks.received.some((h) => h.body?.run?.id === running.runId), Boolean, 10_000, 'the turn to reach its step');
      const before = await counts();
      const busy = await call({ input: { text: 'too soon' }, conversationId, wait: 0 });
      expect(errorCode(busy)).toBe('CONVERSATION_BUSY');
      expect(busy.body.data).toBeNull();
      const busyWithKey = await call({ input: { text: 'too soon' }, conversationId, key: 'turn-3', wait: 0 });
      expect(errorCode(busyWithKey)).toBe('CONVERSATION_BUSY');
      expect(await counts()).toEqual(before);
      // The key of the turn that runs is not refused: it answers with that turn.
      const repeated = await ok({ input: { text: 'slow one' }, conversationId, key: 'turn-2', wait: 0 });
      expect(repeated.runId).toBe(running.runId);
      // A key refused as busy was not claimed: once the turn is over it starts a run.
      release();
      await waitFor(
        async () => (await gw.services.workflows.findRun(org.orgId, running.runId))?.status,
        (s) => s === 'SUCCEEDED',
        10_000,
        'the slow turn to finish',
      );
      const after = await ok({ input: { text: 'too soon' }, conversationId, key: 'turn-3' });
      expect(after.run.status).toBe('SUCCEEDED');
      expect(after.runId).not.toBe(running.runId);
    });

    it('starts exactly one run of 20 concurrent calls into one conversation', async () => {
      const { conversationId } = await ok({ input: { text: 'start' } });
      gate = new Promise((resolve) => (release = resolve));
      const before = await runsOf(conversationId);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => call({ input: { text: `concurrent ${i}` }, conversationId, wait: 0 })),
      );
      const started = answers.filter((a) => !a.body.errors);
      const refused = answers.filter((a) => errorCode(a) === 'CONVERSATION_BUSY');
      expect(started).toHaveLength(1);
      expect(refused).toHaveLength(19);
      expect(await runsOf(conversationId)).toBe(before + 1);
      release();
    });
  });

  it('pages a teammate’s conversations, most recently active first, and keeps them to their teammate and organization', async () => {
    const fresh = (await gw.services.teammates.createTeammate(org.orgId, {
      name: 'Pager',
      workflowId: (await gw.services.teammates.findTeammate(org.orgId, teammateId))!.workflowId,
      channels: ['API'],
    }))!.id;
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      ids.push((await ok({ id: fresh, input: text })).conversationId);
      await nextMillisecond();
    }
    // Continuing the oldest makes it the most recently active.
    await ok({ id: fresh, input: 'one more', conversationId: ids[0] });
    const page1 = (await query(CONVERSATIONS, { id: fresh, first: 2 })).teammate.conversations;
    expect(page1.totalCount).toBe(3);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = (await query(CONVERSATIONS, { id: fresh, first: 2, after: page1.pageInfo.endCursor })).teammate.conversations;
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect([...page1.edges, ...page2.edges].map((e: { node: { id: string; title: string } }) => [e.node.id, e.node.title])).toEqual([
      [ids[0], 'one'],
      [ids[2], 'three'],
      [ids[1], 'two'],
    ]);
    // Another teammate's list does not hold them.
    const others = (await query(CONVERSATIONS, { id: otherTeammateId, first: 100 })).teammate.conversations.edges;
    expect(others.map((e: { node: { id: string } }) => e.node.id)).not.toContain(ids[0]);

    const before = await counts();
    // Another teammate of the organization cannot continue it…
    expect(errorCode(await call({ id: otherTeammateId, input: 'x', conversationId: ids[0] }))).toBe('NOT_FOUND');
    // …nor another organization, which does not see it either.
    expect(errorCode(await call({ id: otherOrgTeammateId, input: 'x', conversationId: ids[0] }, other.apiKey))).toBe('NOT_FOUND');
    expect((await query(CONVERSATION, { id: ids[0] }, other.apiKey)).conversation).toBeNull();
    expect(
      errorCode(
        await graphql(
          gw.url,
          `
            mutation ($id: ID!) {
              deleteConversation(id: $id)
            }
          `,
          { id: ids[0] },
          { apiKey: other.apiKey },
        ),
      ),
    ).toBe('NOT_FOUND');
    for (const bad of ['00000000-0000-4000-8000-000000000000', 'not-an-id']) {
      expect(errorCode(await call({ id: fresh, input: 'x', conversationId: bad }))).toBe('NOT_FOUND');
    }
    expect(await counts()).toEqual(before);
    expect((await query(CONVERSATION, { id: ids[0] })).conversation.id).toBe(ids[0]);
  });

  it('renames and deletes a conversation; its runs stay in the request logs without the link', async () => {
    const first = await ok({ input: { message: 'Plan my week' } });
    const conversationId = first.conversationId;
    expect(first.run.conversation.title).toBe('Plan my week');
    const RENAME = `mutation($id: ID!, $title: String!) { renameConversation(id: $id, title: $title) { id title updatedAt } }`;
    const renamed = await query(RENAME, { id: conversationId, title: '  Week   plan ' });
    expect(renamed.renameConversation).toMatchObject({ id: conversationId, title: 'Week plan' });
    for (const title of ['', '   ', 'x'.repeat(201), 'nul\u0000title']) {
      const res = await graphql(gw.url, RENAME, { id: conversationId, title }, { apiKey: org.apiKey });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
    }
    expect((await query(CONVERSATION, { id: conversationId })).conversation.title).toBe('Week plan');

    const DELETE = `mutation($id: ID!) { deleteConversation(id: $id) }`;
    expect((await query(DELETE, { id: conversationId })).deleteConversation).toBe(true);
    expect((await query(CONVERSATION, { id: conversationId })).conversation).toBeNull();
    expect(errorCode(await graphql(gw.url, DELETE, { id: conversationId }, { apiKey: org.apiKey }))).toBe('NOT_FOUND');
    expect(errorCode(await call({ input: 'more', conversationId }))).toBe('NOT_FOUND');
    const logs = (await query(LOGS, { id: teammateId })).teammate.requestLogs.edges.map(
      (e: { node: { runId: string; conversationId: string | null } }) => e.node,
    );
    expect(logs.find((l: { runId: string }) => l.runId === first.runId)).toMatchObject({ conversationId: null });
    const run = await query(`query($id: ID!) { workflowRun(id: $id) { id status conversation { id } } }`, { id: first.runId });
    expect(run.workflowRun).toEqual({ id: first.runId, status: 'SUCCEEDED', conversation: null });
  });

  it('hands a long conversation its most recent turns within 100 turns and 1 MB, never an error', async () => {
    const { conversationId, runId: firstRun } = await ok({ input: { text: 'seeded' } });
    const { workflow_id: workflowId } = (await gw.db.query(`SELECT workflow_id FROM workflow_runs WHERE id = $1`, [firstRun]))[0];
    const seed = async (count: number, bytes: number) =>
      gw.db.query(
        `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload, output,
                                    conversation_id, created_at, started_at, finished_at)
         SELECT gen_random_uuid(), $1, $2, 1, $3, 'API', 'SUCCEEDED', json_build_object('i', i), json_build_object('pad', repeat('x', $6)),
                $4, now() - interval '400 milliseconds' + i * interval '1 millisecond', now(), now() - interval '400 milliseconds' + i * interval '2 millisecond'
           FROM generate_series(1, $5) AS i`,
        [org.orgId, workflowId, teammateId, conversationId, count, bytes],
      );
    // Seeded turns fall between the first turn and now (the first turn is 500 ms old by then).
    const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
    await settle();
    await seed(130, 10);
    const small = await ok({ input: { text: 'after 131 turns' }, conversationId });
    expect(small.run.status).toBe('SUCCEEDED');
    const context = hookOf(small.runId).body.conversation;
    expect(context.messages).toHaveLength(200);
    expect(context.omittedTurns).toBe(31);
    // The most recent turns, in order: the last one handed is the newest seeded turn.
    expect(context.messages.at(-2).content).toEqual({ i: 130 });

    // Turns of 300 kB each: only what fits in 1 MB, the newest ones.
    await gw.db.query(`DELETE FROM workflow_runs WHERE conversation_id = $1 AND id <> ALL ($2::uuid[])`, [conversationId, [firstRun]]);
    await seed(10, 300_000);
    const big = await ok({ input: { text: 'after big turns' }, conversationId });
    expect(big.run.status).toBe('SUCCEEDED');
    const bigContext = hookOf(big.runId).body.conversation;
    expect(Buffer.byteLength(JSON.stringify(bigContext.messages))).toBeLessThanOrEqual(1024 * 1024);
    expect(bigContext.messages).toHaveLength(6);
    expect(bigContext.messages.at(-2).content).toEqual({ i: 10 });
    expect(bigContext.omittedTurns).toBe(11 - 3);
  });
});
