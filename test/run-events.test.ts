import { NotificationListener } from '../src/db/notification-listener';
import { RunAnnouncer, RunEvent, RunEvents } from '../src/workflows/run-events';
import { RunStateMachine } from '../src/workflows/run-state';
import { startTestGateway, TestGateway } from './support/gateway';
import { waitFor } from './support/poll';

/** Run status changes: counted by the row's trigger, announced by the process after its commit. */
describe('run events: status changes announced across connections', () => {
  let gw: TestGateway;
  let listener: NotificationListener;
  let events: RunEvents;
  let orgId: string;
  let workflowId: string;
  const seen: RunEvent[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ background: false });
    orgId = (await gw.createOrg('Events Org')).orgId;
    workflowId = (
      await gw.services.workflows.createWorkflow(orgId, {
        name: 'noop',
        startStep: 'a',
        steps: { a: { type: 'transform', output: { ok: true } } },
      })
    ).workflow.id;
    // A listener of its own, as another process's would be: nothing here shares the gateway's connection.
    listener = new NotificationListener(gw.database.url);
    await listener.start();
    events = new RunEvents(listener);
    expect(await events.start()).toBe(true);
    events.watchAll({ onEvent: (event) => seen.push(event) });
  });
  afterAll(async () => {
    events.stop();
    await listener.stop();
    await gw.close();
  });

  const eventsOf = (runId: string) => seen.filter((e) => e.id === runId);

  it('announces the start, the claim and the finish of a run once each, in order, with its seq', async () => {
    const run = await gw.services.workflows.startRun({ organizationId: orgId, workflowId, payload: { n: 1 }, channel: 'TRIGGER' });
    const machine = new RunStateMachine(gw.db, { announcer: gw.services.runAnnouncer });
    const [claimed] = await machine.claim(1, 30);
    expect(claimed.id).toBe(run.id);
    await machine.finish({ runId: run.id, token: claimed.leaseToken }, {}, { status: 'SUCCEEDED', output: 1 });
    // A second finish with the same (now cleared) lease changes nothing and announces nothing.
    expect(await machine.finish({ runId: run.id, token: claimed.leaseToken }, {}, { status: 'FAILED' })).toBe(false);
    await waitFor(
      async () => eventsOf(run.id).length,
      (n) => n >= 3,
      5_000,
      'three events',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(eventsOf(run.id)).toEqual([
      { id: run.id, organizationId: orgId, status: 'QUEUED', seq: 1 },
      { id: run.id, organizationId: orgId, status: 'RUNNING', seq: 2 },
      { id: run.id, organizationId: orgId, status: 'SUCCEEDED', seq: 3 },
    ]);
  });

  it('counts status changes made by hand, and announces them with alloy_announce_runs', async () => {
    const run = await gw.services.workflows.startRun({ organizationId: orgId, workflowId, payload: null, channel: 'TRIGGER' });
    await gw.db.query(`UPDATE workflow_runs SET status = 'RUNNING' WHERE id = $1`, [run.id]);
    await gw.db.query(`UPDATE workflow_runs SET next_step = 'a' WHERE id = $1`, [run.id]); // not a status change
    await gw.db.query(`UPDATE workflow_runs SET status = 'RUNNING' WHERE id = $1`, [run.id]); // the same status
    await gw.db.query(`UPDATE workflow_runs SET status = 'FAILED', finished_at = now() WHERE id = $1`, [run.id]);
    // A change rolled back counts nothing.
    await gw.db
      .transaction(async (tx) => {
        await tx.query(`UPDATE workflow_runs SET status = 'SUCCEEDED' WHERE id = $1`, [run.id]);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const [row] = await gw.db.query(`SELECT status, status_seq FROM workflow_runs WHERE id = $1`, [run.id]);
    expect(row).toEqual({ status: 'FAILED', status_seq: 3 });

    await gw.db.query(`SELECT alloy_announce_runs(ARRAY[$1]::uuid[])`, [run.id]);
    await waitFor(async () => eventsOf(run.id).find((e) => e.status === 'FAILED'), Boolean, 5_000, 'the FAILED event');
    expect(eventsOf(run.id)).toEqual([
      { id: run.id, organizationId: orgId, status: 'QUEUED', seq: 1 },
      { id: run.id, organizationId: orgId, status: 'FAILED', seq: 3 },
    ]);
  });

  it('batches the changes of one tick into one notification, split below the payload limit', async () => {
    const announcer = new RunAnnouncer(gw.db);
    const fake = Array.from({ length: 300 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      organizationId: orgId,
      status: 'SUCCEEDED' as never,
      seq: 9,
    }));
    let notifications = 0;
    const sub = listener.subscribe('alloy_run_events', { onMessage: () => notifications++ });
    for (const event of fake) announcer.announce([event]);
    await announcer.flush();
    await waitFor(async () => fake.every((f) => eventsOf(f.id).length === 1), Boolean, 5_000, 'all 300 events');
    sub.close();
    // 300 events of ~110 bytes each: a handful of notifications, not 300.
    expect(notifications).toBeGreaterThan(1);
    expect(notifications).toBeLessThan(10);
  });

  it('re-reads the runs it watches, so that an announcement that was never sent is not missed for long', async () => {
    const watching = new RunEvents(listener, gw.db);
    await watching.start();
    const run = await gw.services.workflows.startRun({ organizationId: orgId, workflowId, payload: null, channel: 'TRIGGER' });
    const got: RunEvent[] = [];
    const unwatch = watching.watchRun(run.id, { onEvent: (e) => got.push(e) });
    // Finished by hand and never announced: only the periodic re-read can tell.
    await gw.db.query(`UPDATE workflow_runs SET status = 'SUCCEEDED', finished_at = now() WHERE id = $1`, [run.id]);
    await waitFor(async () => got.find((e) => e.status === 'SUCCEEDED'), Boolean, 15_000, 'the re-read');
    unwatch();
    watching.stop();
    // With the run's last event number (QUEUED, SUCCEEDED), which spares up-to-date followers a read.
    expect(got.find((e) => e.status === 'SUCCEEDED')).toEqual({
      id: run.id,
      organizationId: orgId,
      status: 'SUCCEEDED',
      seq: 2,
      events: 2,
    });
  });

  it('sends stored events on their own channel, which only followers of runs listen to (a worker gets status changes alone)', async () => {
    const runId = '00000000-0000-4000-8000-00000000abcd';
    const statusOnly = new RunEvents(listener);
    await statusOnly.start();
    const follower = new RunEvents(listener);
    expect(await follower.followOutput()).toBe(true);
    const toStatusOnly: RunEvent[] = [];
    const toFollower: RunEvent[] = [];
    statusOnly.watchRun(runId, { onEvent: (e) => toStatusOnly.push(e) });
    follower.watchRun(runId, { onEvent: (e) => toFollower.push(e) });
    const announcer = new RunAnnouncer(gw.db);
    const output: RunEvent = { id: runId, organizationId: orgId, status: 'RUNNING' as never, seq: 2, events: 5 };
    const finished: RunEvent = { id: runId, organizationId: orgId, status: 'SUCCEEDED' as never, seq: 3 };
    announcer.announce([output, finished]);
    await announcer.flush();
    await waitFor(async () => toFollower.length === 2 && toStatusOnly.length === 1, Boolean, 5_000, 'both announcements');
    expect(toFollower).toEqual(expect.arrayContaining([output, finished]));
    expect(toStatusOnly).toEqual([finished]);
    // The worker-like RunEvents' every-run handlers never see stored events either.
    expect(seen.filter((e) => e.id === runId)).toEqual([finished]);
    statusOnly.stop();
    follower.stop();
  });
});
