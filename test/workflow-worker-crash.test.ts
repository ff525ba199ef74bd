import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { CliProcess, startWorkerProcess } from './support/process';

const LEASE_SECONDS = 2;

/** `alloy worker` as its own process on the test database, with a short lease. */
const startWorker = (databaseUrl: string) => startWorkerProcess(databaseUrl, { WORKFLOW_LEASE_SECONDS: String(LEASE_SECONDS) });

describe('a worker process killed mid-run', () => {
  let hooks: HookServer;
  const children: CliProcess[] = [];
  // The gateway runs no executor (like `alloy serve --no-worker`), only the lease sweeper.
  const { gw } = useGatewayWithOrg({
    background: { workflows: false },
    env: { WORKFLOW_LEASE_SECONDS: String(LEASE_SECONDS) },
    beforeClose: () => {
      for (const child of children) if (child.running) child.child.kill('SIGKILL');
    },
  });

  beforeAll(async () => {
    hooks = await startHookServer();
  });
  afterAll(() => hooks?.close());

  it(`leaves RUNNING within the lease (${LEASE_SECONDS} s + a sweep) and is completed by the next worker`, async () => {
    const { orgId, apiKey } = await gw.createOrg('Crash Org');
    let calls = 0;
    let entered!: () => void;
    const firstCall = new Promise<void>((r) => (entered = r));
    hooks.route('/slow', () => {
      calls += 1;
      if (calls === 1) {
        entered();
        return new Promise(() => {}); // the first worker dies while waiting for this answer
      }
      return { status: 200, body: { answer: 42 } };
    });
    const { workflow } = await gw.services.workflows.createWorkflow(orgId, {
      name: 'slow',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/slow`, next: 'shape' },
        shape: { type: 'transform', output: { answer: '{{steps.call.output.answer}}' } },
      },
    });

    const first = await startWorker(gw.database.url);
    children.push(first);
    const res = await graphql(
      gw.url,
      'mutation($id: ID!) { triggerWorkflow(workflowId: $id, payload: {n: 1}) { runId } }',
      { id: workflow.id },
      { apiKey },
    );
    const runId: string = res.body.data.triggerWorkflow.runId;
    await firstCall;
    const readRun = async () =>
      (await gw.db.query(`SELECT status, recoveries, output, error FROM workflow_runs WHERE id = $1`, [runId]))[0] as {
        status: string;
        recoveries: number;
        output: unknown;
        error: string | null;
      };
    expect((await readRun()).status).toBe('RUNNING');

    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

    // No worker is alive now; the gateway's sweeper puts the run back in the queue once the lease lapses.
    const recovered = await waitFor(readRun, (run) => run.status !== 'RUNNING', 20_000, 'the run to leave RUNNING');
    expect(recovered).toMatchObject({ status: 'QUEUED', recoveries: 1 });

    const second = await startWorker(gw.database.url);
    children.push(second);
    const done = await waitFor(readRun, (run) => run.status === 'SUCCEEDED' || run.status === 'FAILED', 20_000, 'the run to finish');
    expect(done).toMatchObject({ status: 'SUCCEEDED', recoveries: 1, output: { answer: 42 }, error: null });
    expect(calls).toBe(2);

    // SIGTERM stops a worker cleanly.
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    const [{ running }] = await gw.db.query(`SELECT count(*)::int AS running FROM workflow_runs WHERE status = 'RUNNING'`);
    expect(running).toBe(0);
  });
});
