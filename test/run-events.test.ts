import { NotificationListener } from '../src/db/notification-listener';
import { RunEvent, RunEvents } from '../src/workflows/run-events';
import { useGatewayWithOrg } from './support/gateway';
import { waitFor } from './support/poll';

/** The `workflow_runs` trigger announces every status change, once, in order, with its sequence number. */
describe('run events: status changes announced across connections', () => {
  let listener: NotificationListener;
  let events: RunEvents;
  let workflowId: string;
  const { gw, org } = useGatewayWithOrg({
    background: false,
    orgName: 'Events Org',
    beforeClose: async () => {
      events?.stop();
      await listener?.stop();
    },
  });

  beforeAll(async () => {
    workflowId = (
      await gw.services.workflows.createWorkflow(org.orgId, {
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
  });

  it('sends the insert and each status change with an increasing seq, and nothing for other updates', async () => {
    const run = await gw.services.workflows.startRun({ organizationId: org.orgId, workflowId, payload: { n: 1 }, channel: 'TRIGGER' });
    const seen: RunEvent[] = [];
    // The insert's event may have arrived before the watch: it is read from the row (seq 1) instead.
    const unwatch = events.watchRun(run.id, { onEvent: (event) => seen.push(event) });
    const [row] = await gw.db.query(`SELECT status, status_seq FROM workflow_runs WHERE id = $1`, [run.id]);
    expect(row).toEqual({ status: 'QUEUED', status_seq: 1 });

    await gw.db.query(`UPDATE workflow_runs SET status = 'RUNNING' WHERE id = $1`, [run.id]);
    await gw.db.query(`UPDATE workflow_runs SET next_step = 'a' WHERE id = $1`, [run.id]); // not a status change
    await gw.db.query(`UPDATE workflow_runs SET status = 'RUNNING' WHERE id = $1`, [run.id]); // same status: no event
    await gw.db.query(`UPDATE workflow_runs SET status = 'SUCCEEDED', finished_at = now() WHERE id = $1`, [run.id]);
    await waitFor(async () => seen.filter((e) => e.seq > 1).length, (n) => n >= 2, 5_000, 'two status events');
    // A transaction that rolls back announces nothing.
    await gw.db.transaction(async (tx) => {
      await tx.query(`UPDATE workflow_runs SET status = 'FAILED' WHERE id = $1`, [run.id]);
      await tx.query(`SELECT 1/0`).catch(() => undefined);
      throw new Error('roll back');
    }).catch(() => undefined);
    await gw.db.query(`SELECT pg_sleep(0.2)`);
    unwatch();

    expect(seen.filter((e) => e.seq > 1)).toEqual([
      { id: run.id, organizationId: org.orgId, status: 'RUNNING', seq: 2 },
      { id: run.id, organizationId: org.orgId, status: 'SUCCEEDED', seq: 3 },
    ]);
    const [after] = await gw.db.query(`SELECT status, status_seq FROM workflow_runs WHERE id = $1`, [run.id]);
    expect(after).toEqual({ status: 'SUCCEEDED', status_seq: 3 });
  });

  it('tells every-run watchers of a newly queued run', async () => {
    const queued: RunEvent[] = [];
    const unwatch = events.watchAll({ onEvent: (event) => event.status === 'QUEUED' && queued.push(event) });
    const run = await gw.services.workflows.startRun({ organizationId: org.orgId, workflowId, payload: null, channel: 'TRIGGER' });
    await waitFor(async () => queued.find((e) => e.id === run.id), Boolean, 5_000, 'the QUEUED event');
    unwatch();
    expect(queued.find((e) => e.id === run.id)).toEqual({ id: run.id, organizationId: org.orgId, status: 'QUEUED', seq: 1 });
  });
});
