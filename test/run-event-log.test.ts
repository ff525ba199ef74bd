import { Client } from 'pg';
import { RUN_OUTPUT_CHANNEL, RunEvent } from '../src/workflows/run-events';
import { collectSubscription, subscribeOnce } from './support/graphql-ws';
import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { waitFor } from './support/poll';
import { readSse, startStreamTarget, StreamTarget } from './support/stream-target';

/**
 * Stored run events, streamed http steps, `workflowRunEvents` and `GET /runs/:id/events`, against
 * the real gateway and a real streaming target that the test drives piece by piece.
 */

const EVENTS = `subscription($id: ID!, $after: Int) { workflowRunEvents(id: $id, after: $after) { seq type step data at } }`;
const TRIGGER = `mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }`;
const RUN_EVENTS = `query($id: ID!, $after: Int, $first: Int) {
  workflowRun(id: $id) { status output steps events(after: $after, first: $first) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { seq type step data } } } }
}`;

type Ev = { seq: number; type: string; step: string | null; data: unknown; at?: string };
const brief = (e: Ev) => ({ seq: e.seq, type: e.type, step: e.step, data: e.data });

describe('run events: stored, streamed and followed', () => {
  let target: StreamTarget;
  let streaming: string;
  let listOutput: string;
  let other: { apiKey: string };
  const { gw, org } = useGatewayWithOrg({ orgName: 'Events' });

  const trigger = async (workflowId: string, payload: unknown = { q: 'hi' }) => {
    const res = await graphql(gw.url, TRIGGER, { id: workflowId, payload }, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.triggerWorkflow.runId as string;
  };
  const storedEvents = async (runId: string): Promise<Ev[]> => {
    const res = await graphql(gw.url, RUN_EVENTS, { id: runId, first: 100 }, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.workflowRun.events.edges.map((e: { node: Ev }) => e.node);
  };
  const statusOf = async (runId: string) =>
    (await gw.db.query(`SELECT status FROM workflow_runs WHERE id = $1`, [runId]))[0].status as string;

  beforeAll(async () => {
    target = await startStreamTarget();
    other = await gw.createOrg('Other');
    streaming = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'streaming',
        startStep: 'call',
        steps: {
          call: { type: 'http', url: `${target.url}/llm`, timeoutMs: 30_000, next: 'shape' },
          shape: { type: 'transform', output: { answer: '{{steps.call.output.text}}' } },
        },
      })
    ).workflow.id;
    listOutput = (
      await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'list',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${target.url}/list`, timeoutMs: 30_000 } },
      })
    ).workflow.id;
  });
  afterAll(() => target?.close());

  it('records each server-sent event as an OUTPUT event while the step runs, and follows the run live to its end', async () => {
    const runId = await trigger(streaming);
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId });
    const call = await target.next();
    expect(call.headers.accept).toContain('text/event-stream');
    call.send({ token: 'Hel' });
    // The first OUTPUT reaches the follower while the target still holds the request open.
    await waitFor(
      () => subscription.results.map((r) => r.data?.workflowRunEvents.type),
      (types) => types.includes('OUTPUT'),
      10_000,
      'the first OUTPUT event',
    );
    expect(call.isAborted()).toBe(false);
    expect(await statusOf(runId)).toBe('RUNNING');
    call.send('lo'); // not JSON: kept as text
    call.send({ text: 'Hello' }, 'result');
    call.end();
    expect(await subscription.ended).toEqual({ complete: true });

    const followed: Ev[] = subscription.results.map((r) => r.data.workflowRunEvents);
    expect(followed.map(brief)).toEqual([
      { seq: 1, type: 'STATUS', step: null, data: 'QUEUED' },
      { seq: 2, type: 'STATUS', step: null, data: 'RUNNING' },
      { seq: 3, type: 'STEP_STARTED', step: 'call', data: null },
      { seq: 4, type: 'OUTPUT', step: 'call', data: { token: 'Hel' } },
      { seq: 5, type: 'OUTPUT', step: 'call', data: 'lo' },
      { seq: 6, type: 'OUTPUT', step: 'call', data: { text: 'Hello' } },
      { seq: 7, type: 'STEP_FINISHED', step: 'call', data: 200 },
      { seq: 8, type: 'STEP_STARTED', step: 'shape', data: null },
      { seq: 9, type: 'STEP_FINISHED', step: 'shape', data: null },
      { seq: 10, type: 'STATUS', step: null, data: 'SUCCEEDED' },
    ]);
    for (const e of followed) expect(new Date(e.at!).getTime()).not.toBeNaN();
    // The stored list is the same, and the step's output is the `result` event's data.
    expect((await storedEvents(runId)).map(brief)).toEqual(followed.map(brief));
    const run = (await graphql(gw.url, RUN_EVENTS, { id: runId, first: 3 }, { apiKey: org.apiKey })).body.data.workflowRun;
    expect(run.output).toEqual({ answer: 'Hello' });
    expect(run.steps.call.output).toEqual({ text: 'Hello' });
    // Pages: `after` is a seq.
    expect(run.events.totalCount).toBe(10);
    expect(run.events.pageInfo).toEqual({ hasNextPage: true, endCursor: '3' });
    const rest = (await graphql(gw.url, RUN_EVENTS, { id: runId, after: 3, first: 100 }, { apiKey: org.apiKey })).body.data.workflowRun
      .events;
    expect(rest.edges.map((e: { node: Ev }) => e.node.seq)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(rest.pageInfo.hasNextPage).toBe(false);

    // A finished run: the stored events, then complete; with `after`, only those after it.
    const replay = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId, after: 7 });
    expect(await replay.ended).toEqual({ complete: true });
    expect(replay.results.map((r) => r.data.workflowRunEvents.seq)).toEqual([8, 9, 10]);
  });

  it('without a `result` event the output is the list of every event data; pieces that come together cost one commit', async () => {
    const runId = await trigger(listOutput);
    const call = await target.next();
    // Twenty events in one write: they are coalesced into a few appends, not twenty.
    call.raw(Array.from({ length: 20 }, (_, i) => `data: ${JSON.stringify({ i })}\n\n`).join(''));
    call.send('tail');
    call.end();
    await waitFor(
      () => statusOf(runId),
      (s) => s === 'SUCCEEDED',
      10_000,
      'the run to succeed',
    );
    const run = (await graphql(gw.url, RUN_EVENTS, { id: runId, first: 100 }, { apiKey: org.apiKey })).body.data.workflowRun;
    expect(run.output).toEqual([...Array.from({ length: 20 }, (_, i) => ({ i })), 'tail']);
    const outputs = (await storedEvents(runId)).filter((e) => e.type === 'OUTPUT');
    expect(outputs.map((e) => e.data)).toEqual(run.output);
    // Each commit is one transaction id (xmin) on the rows it wrote.
    const [{ commits }] = await gw.db.query(
      `SELECT count(DISTINCT xmin::text)::int AS commits FROM workflow_run_events WHERE run_id = $1 AND type = 'OUTPUT'`,
      [runId],
    );
    expect(commits).toBeLessThanOrEqual(3);
  });

  it('pieces too large to travel with their announcement, and non-ASCII ones, reach the follower exactly', async () => {
    const runId = await trigger(listOutput);
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId });
    const call = await target.next();
    const pieces = [{ big: 'é'.repeat(3000) }, 'ü🙂 small', { big: '🙂'.repeat(2500) }, 'last'];
    for (const piece of pieces) call.send(piece);
    call.end();
    expect(await subscription.ended).toEqual({ complete: true });
    const followed: Ev[] = subscription.results.map((r) => r.data.workflowRunEvents);
    expect(followed.filter((e) => e.type === 'OUTPUT').map((e) => e.data)).toEqual(pieces);
    expect(followed.map((e) => e.seq)).toEqual(followed.map((_, i) => i + 1));
    expect(followed.map(brief)).toEqual((await storedEvents(runId)).map(brief));
  });

  it('a burst of pieces written in one append travels inside its announcements, split below the NOTIFY limit', async () => {
    const sql = new Client({ connectionString: gw.database.url });
    await sql.connect();
    const payloads: string[] = [];
    sql.on('notification', (n) => {
      if (n.channel === RUN_OUTPUT_CHANNEL && n.payload) payloads.push(n.payload);
    });
    await sql.query(`LISTEN ${RUN_OUTPUT_CHANNEL}`);
    try {
      const runId = await trigger(listOutput);
      const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId });
      const call = await target.next();
      // About 16 kB of pieces in one write: coalesced into one append, far more than one announcement holds.
      const pieces = Array.from({ length: 100 }, (_, i) => ({ i, text: 'x'.repeat(40) }));
      call.raw(pieces.map((piece) => `data: ${JSON.stringify(piece)}\n\n`).join(''));
      call.end();
      expect(await subscription.ended).toEqual({ complete: true });
      const followed: Ev[] = subscription.results.map((r) => r.data.workflowRunEvents);
      const outputs = followed.filter((e) => e.type === 'OUTPUT');
      expect(outputs.map((e) => e.data)).toEqual(pieces);
      expect(followed.map((e) => e.seq)).toEqual(followed.map((_, i) => i + 1));
      // Every piece was announced with its data (no follower had to read the table for it), in
      // several announcements each well below Postgres's 8,000-byte NOTIFY limit.
      const announced = payloads
        .flatMap((payload) => JSON.parse(payload) as RunEvent[])
        .filter((e) => e.id === runId && e.appended?.length);
      expect(announced.flatMap((e) => e.appended!.filter((a) => a.type === 'OUTPUT').map((a) => a.seq))).toEqual(outputs.map((e) => e.seq));
      expect(announced.length).toBeGreaterThan(1);
      for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
      const [{ commits }] = await gw.db.query(
        `SELECT count(DISTINCT xmin::text)::int AS commits FROM workflow_run_events WHERE run_id = $1 AND type = 'OUTPUT'`,
        [runId],
      );
      expect(announced.length).toBeGreaterThan(commits);
    } finally {
      await sql.end();
    }
  });

  it('a burst of events larger than what a websocket may hold queued reaches the follower whole, once each and in order', async () => {
    const runId = await trigger(listOutput);
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId });
    const call = await target.next();
    // 40 pieces of 4 kB in one write: about 160 kB of frames for one socket in one turn, past
    // SEND_HIGH_WATER (64 kB), where the subscription waits for the socket before its next event.
    const pieces = Array.from({ length: 40 }, (_, i) => ({ i, text: String(i % 10).repeat(4000) }));
    call.raw(pieces.map((piece) => `data: ${JSON.stringify(piece)}\n\n`).join(''));
    call.end();
    expect(await subscription.ended).toEqual({ complete: true });
    const followed: Ev[] = subscription.results.map((r) => r.data.workflowRunEvents);
    expect(followed.filter((e) => e.type === 'OUTPUT').map((e) => e.data)).toEqual(pieces);
    expect(followed.map((e) => e.seq)).toEqual(followed.map((_, i) => i + 1));
  });

  it('a follower that lost its connection resumes with `after` and gets every event exactly once, in order', async () => {
    const runId = await trigger(streaming);
    const first = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId });
    const call = await target.next();
    call.send({ token: 'a' });
    await waitFor(
      () => first.results.map((r) => r.data?.workflowRunEvents.type),
      (types) => types.includes('OUTPUT'),
      10_000,
      'the first OUTPUT',
    );
    await first.close();
    const seen: Ev[] = first.results.map((r) => r.data.workflowRunEvents);
    // Written while nobody follows.
    call.send({ token: 'b' });
    call.send({ token: 'c' });
    await waitFor(
      async () => (await storedEvents(runId)).filter((e) => e.type === 'OUTPUT').length,
      (n) => n === 3,
      10_000,
      'the pieces written while disconnected',
    );
    const second = await collectSubscription(gw.url, { 'api-key': org.apiKey }, EVENTS, { id: runId, after: seen[seen.length - 1].seq });
    await second.received(2);
    call.send({ text: 'abc' }, 'result');
    call.end();
    expect(await second.ended).toEqual({ complete: true });
    const all = [...seen, ...second.results.map((r) => r.data.workflowRunEvents)];
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.map(brief)).toEqual((await storedEvents(runId)).map(brief));
    expect(all.filter((e) => e.type === 'OUTPUT').map((e) => e.data)).toEqual([
      { token: 'a' },
      { token: 'b' },
      { token: 'c' },
      { text: 'abc' },
    ]);
  });

  it('GET /runs/:id/events streams the same events as text/event-stream, resumes with Last-Event-ID and ends after the final status', async () => {
    const runId = await trigger(streaming);
    const headers = { 'api-key': org.apiKey };
    const first = await readSse(`${gw.url}/runs/${runId}/events`, headers);
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/event-stream/);
    const call = await target.next();
    call.send({ token: 'x' });
    await waitFor(
      () => first.events.map((e) => e.event),
      (types) => types.includes('OUTPUT'),
      10_000,
      'the first OUTPUT over SSE',
    );
    first.abort();
    await first.done;
    const lastId = first.events[first.events.length - 1].id!;
    call.send({ token: 'y' });
    const second = await readSse(`${gw.url}/runs/${runId}/events`, { ...headers, 'last-event-id': lastId });
    await second.received(1);
    call.send({ text: 'xy' }, 'result');
    call.end();
    await second.done; // the server ends the answer after the final STATUS event
    const all = [...first.events, ...second.events];
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => String(i + 1)));
    expect(all.map((e) => e.data.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.map((e) => e.event)).toEqual(all.map((e) => e.data.type));
    expect(all[all.length - 1].data).toMatchObject({ type: 'STATUS', data: 'SUCCEEDED' });
    expect(all.map((e) => brief(e.data))).toEqual((await storedEvents(runId)).map(brief));
  });

  it("is NOT_FOUND for another organization's run, an unknown id or a malformed one; refuses a missing key and a bad Last-Event-ID", async () => {
    const runId = await trigger(listOutput);
    const call = await target.next();
    call.end();
    await waitFor(
      () => statusOf(runId),
      (s) => s === 'SUCCEEDED',
      10_000,
      'the run to succeed',
    );
    for (const id of [runId, '00000000-0000-4000-8000-000000000000', 'nope']) {
      const apiKey = id === runId ? other.apiKey : org.apiKey;
      const answer = JSON.parse((await subscribeOnce(gw.url, apiKey, EVENTS, { id })).text);
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors[0].extensions).toEqual({ code: 'NOT_FOUND' });
      const sse = await readSse(`${gw.url}/runs/${id}/events`, { 'api-key': apiKey });
      await sse.done;
      expect(sse.status).toBe(404);
      expect(sse.events[0].data.errors[0].extensions.code).toBe('NOT_FOUND');
    }
    const bare = await readSse(`${gw.url}/runs/${runId}/events`, {});
    await bare.done;
    expect(bare.status).toBe(401);
    const bad = await readSse(`${gw.url}/runs/${runId}/events`, { 'api-key': org.apiKey, 'last-event-id': 'abc' });
    await bad.done;
    expect(bad.status).toBe(400);
    expect(bad.events[0].data.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    // The other organization sees no events of it in a query either.
    const res = await graphql(gw.url, RUN_EVENTS, { id: runId }, { apiKey: other.apiKey });
    expect(res.body.data.workflowRun).toBeNull();
  });

  it('events go with their run when retention deletes it', async () => {
    const runId = await trigger(listOutput);
    const call = await target.next();
    call.send('piece');
    call.end();
    await waitFor(
      () => statusOf(runId),
      (s) => s === 'SUCCEEDED',
      10_000,
      'the run to succeed',
    );
    const count = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_run_events WHERE run_id = $1`, [runId]))[0].n;
    expect(await count()).toBeGreaterThan(0);
    await gw.db.query(`UPDATE workflow_runs SET finished_at = now() - interval '400 days' WHERE id = $1`, [runId]);
    const { deleteExpiredRuns } = await import('../src/workflows/run-retention');
    // Its day is within the retention (made today): deleted row by row, its events by the delete's trigger.
    expect(await deleteExpiredRuns(gw.db, 365)).toEqual({ droppedDays: [], deleted: 1 });
    expect(await count()).toBe(0);
  });
});
