import { Client } from 'pg';
import { withClient } from '../lib/postgres';
import { graphql } from '../lib/graphql';
import { assertClean, compareThroughput, cpuCell, median, sequential } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt, NotApplicable, graphqlLoad } from './figure';
import { createBenchWorkflow, runBacklog } from './workflow-setup';

const TRIGGER = 'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }';
const TRIGGER_AND_WAIT =
  'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload, waitSeconds: 10) { runId run { status output } } }';
const WORKER_RUNS = () => Number(process.env.BENCH_WORKER_RUNS ?? 5_000);

/** `triggerWorkflow` req/s at 20 connections (gateway without worker, one `alloy worker` beside it) against baseline (d). */
export const triggerWorkflow: Figure = {
  id: 'trigger',
  title: '`triggerWorkflow` req/s at 20 connections (`serve --no-worker` + one `alloy worker`); gateway p99',
  target: '≥ 50% of baseline (d)',
  requires: ['Mutation.triggerWorkflow'],
  async run(ctx) {
    const workflowId = await createBenchWorkflow(ctx);
    const body = JSON.stringify({ query: TRIGGER, variables: { id: workflowId, payload: { text: 'bench' } } });
    const request = (url: string, duration = ctx.duration, server?: ChildServer) => graphqlLoad(ctx, url, body, duration, server);
    let baseline;
    try {
      baseline = await ctx.startBaseline('workflow-run-insert', { ORG_ID: ctx.orgId });
    } catch (error) {
      const g = await request(ctx.gateway.url);
      assertClean('gateway', [g]);
      return { gateway: fmt.rps(g.rps), baseline: 'n/a', ratio: 'n/a', met: null, note: `baseline (d): ${(error as Error).message}` };
    }
    const workerCpuBefore = ctx.worker.cpuMs();
    // Each gateway round ends once the worker has executed its runs: a worker still draining them
    // during the baseline's round took CPU from the baseline (a slower worker made the ratio look better).
    const { t, finished } = await withClient(ctx.databaseUrl, async (db) => {
      const t = await compareThroughput(
        async (duration) => {
          const round = await request(ctx.gateway.url, duration, ctx.gateway);
          await waitForRuns(db, workflowId);
          return round;
        },
        (duration) => request(baseline.url, duration, baseline),
        ctx.rounds,
      );
      // Every trigger of the figure (warm-ups included) is a run the worker executes.
      return { t, finished: await waitForRuns(db, workflowId) };
    });
    const workerCpuMs = ctx.worker.cpuMs() - workerCpuBefore;
    const workerCpuPerRunUs = (workerCpuMs * 1000) / Math.max(finished, 1);
    const p99 = median(t.comparison.gateway.map((r) => r.p99));
    const baselineP99 = median(t.comparison.baseline.map((r) => r.p99));
    return {
      gateway: `${fmt.rps(t.gatewayRps)}; ${cpuCell(t.gatewayCpuUs)}; worker ${cpuCell(workerCpuPerRunUs)}; p99 ${fmt.ms(p99)}`,
      baseline: `${fmt.rps(t.baselineRps)}; ${cpuCell(t.baselineCpuUs)}; p99 ${fmt.ms(baselineP99)}`,
      ratio: fmt.pct(t.ratio),
      met: t.ratio >= 0.5,
      note:
        `trigger: CPU time of the server process per request: gateway ${Math.round(t.gatewayCpuUs)} µs, baseline (d) ${Math.round(t.baselineCpuUs)} µs; ` +
        `the worker process executed the ${finished.toLocaleString('en-US')} triggered runs (warm-ups included) during and right after each gateway round (the baseline's rounds start once it has finished them), ${Math.round(workerCpuMs / 1000)} s of CPU, ${Math.round(workerCpuPerRunUs)} µs per run; p99 is autocannon's (1 ms resolution), median of the rounds.`,
    };
  },
};

/** Waits until no run of `workflowId` is queued or running (at most 2 minutes); the number of finished runs. */
async function waitForRuns(db: Client, workflowId: string): Promise<number> {
  const until = Date.now() + 120_000;
  for (;;) {
    const { rows } = await db.query<{ open: number; done: number }>(
      `SELECT count(*) FILTER (WHERE status IN ('QUEUED', 'RUNNING'))::int AS open, count(*) FILTER (WHERE status NOT IN ('QUEUED', 'RUNNING'))::int AS done
         FROM workflow_runs WHERE workflow_id = $1`,
      [workflowId],
    );
    if (rows[0].open === 0 || Date.now() > until) return rows[0].done;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Trigger to SUCCEEDED through `waitSeconds`, one connection, for a transform-only workflow. */
export const triggerAndWait: Figure = {
  id: 'trigger-wait',
  title: 'trigger to `SUCCEEDED` through `waitSeconds`, transform-only workflow, 1 connection, p50',
  target: 'p50 < 15 ms',
  requires: ['Mutation.triggerWorkflow', 'WorkflowRun.output'],
  async run(ctx) {
    const workflowId = await createBenchWorkflow(ctx);
    const probe = await graphql(ctx.gateway.url, ctx.apiKey, TRIGGER_AND_WAIT, { id: workflowId, payload: { text: 'probe' } });
    if (probe.errors?.length) throw new NotApplicable(`waitSeconds is not accepted: ${probe.errors[0].message}`);
    const options = {
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
      body: JSON.stringify({ query: TRIGGER_AND_WAIT, variables: { id: workflowId, payload: { text: 'bench' } } }),
      duration: ctx.duration,
      verifyBody: (text: string) => text.includes('"status":"SUCCEEDED"'),
    };
    await sequential(`${ctx.gateway.url}/graphql`, { ...options, duration: 1 });
    const rounds = [];
    for (let i = 0; i < ctx.rounds; i++) rounds.push(await sequential(`${ctx.gateway.url}/graphql`, options, ctx.gateway));
    assertClean('gateway', rounds);
    const p50 = median(rounds.map((r) => r.p50));
    const p99 = median(rounds.map((r) => r.p99));
    return {
      gateway: `p50 ${fmt.ms(p50)}; p99 ${fmt.ms(p99)}`,
      baseline: '—',
      ratio: '—',
      met: p50 < 15,
      note: `trigger-wait: ${ctx.rounds} rounds of ${ctx.duration} s of sequential \`triggerWorkflow(waitSeconds: 10)\` on one kept-alive connection, each answered SUCCEEDED with its output; the run is executed by the separate \`alloy worker\` process, woken by the insert's notification, and the answer by the finish's.`,
    };
  },
};

/** Transform-only runs finished per second by the one worker, from a backlog inserted in one statement. */
export const workerThroughput: Figure = {
  id: 'worker-throughput',
  title: 'transform-only runs finished per second by one `alloy worker` (default `WORKFLOW_CONCURRENCY`)',
  target: '≥ 500 runs/s',
  requires: ['Mutation.triggerWorkflow'],
  async run(ctx) {
    const workflowId = await createBenchWorkflow(ctx);
    const count = WORKER_RUNS();
    const db = new Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const cpuBefore = ctx.worker.cpuMs();
      const seconds = await runBacklog(db, ctx, workflowId, count);
      const { rows: failed } = await db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_id = $1 AND status = 'FAILED'`, [
        workflowId,
      ]);
      if (failed[0].n > 0) throw new Error(`${failed[0].n} of ${count} runs FAILED`);
      const perSecond = count / seconds;
      const cpuUs = ((ctx.worker.cpuMs() - cpuBefore) * 1000) / count;
      return {
        gateway: `${fmt.rps(perSecond).replace('req/s', 'runs/s')}`,
        baseline: '—',
        ratio: '—',
        met: perSecond >= 500,
        note: `worker-throughput: ${count.toLocaleString('en-US')} queued runs inserted in one statement, timed from before the insert until the last is SUCCEEDED (polled every 20 ms); the worker spent ${Math.round(cpuUs)} µs of CPU per run.`,
      };
    } finally {
      await db.end();
    }
  },
};
