import { graphql, mustQuery } from '../lib/graphql';
import { assertClean, compareThroughput, load, median } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt } from './figure';
import { createBenchWorkflow } from './workflow-setup';

const TRIGGER = 'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }';
const STATUS = 'query($id: ID!) { workflowRun(id: $id) { status } }';
const LATENCY_SAMPLES = 25;

/** Trigger one run and poll until it leaves QUEUED: an upper bound of trigger-to-RUNNING. */
async function toRunning(url: string, apiKey: string, workflowId: string): Promise<number> {
  const started = process.hrtime.bigint();
  const { triggerWorkflow } = await mustQuery(url, apiKey, TRIGGER, { id: workflowId, payload: { text: 'hi' } });
  for (;;) {
    const answer = await graphql(url, apiKey, STATUS, { id: triggerWorkflow.runId });
    const status = answer.data?.workflowRun?.status;
    if (!status) throw new Error(`workflowRun: ${JSON.stringify(answer.errors)}`);
    if (status !== 'QUEUED') return Number(process.hrtime.bigint() - started) / 1e6;
    if (Number(process.hrtime.bigint() - started) > 30e9) throw new Error('run stayed QUEUED for 30 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const triggerWorkflow: Figure = {
  id: 'trigger',
  title: '`triggerWorkflow` req/s at 20 connections; trigger-to-`RUNNING` p50',
  target: '≥ 40% of baseline (d); < 100 ms',
  requires: ['Mutation.triggerWorkflow', 'Query.workflowRun', 'WorkflowRun.status'],
  async run(ctx) {
    const workflowId = await createBenchWorkflow(ctx);
    // Latency first, on an idle worker; the throughput runs below leave a backlog of runs.
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) samples.push(await toRunning(ctx.gateway.url, ctx.apiKey, workflowId));
    const latency = median(samples);

    const body = JSON.stringify({ query: TRIGGER, variables: { id: workflowId, payload: { text: 'bench' } } });
    const request = (url: string, duration = ctx.duration, server?: ChildServer) =>
      load(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey }, body, connections: ctx.connections, duration }, server);
    let baseline;
    try {
      baseline = await ctx.startBaseline('workflow-run-insert', { ORG_ID: ctx.orgId, WORKFLOW_ID: workflowId });
    } catch (error) {
      const g = await request(ctx.gateway.url);
      assertClean('gateway', [g]);
      return { gateway: `${fmt.rps(g.rps)}; ${fmt.ms(latency)}`, baseline: 'n/a', ratio: 'n/a', met: null, note: `baseline (d): ${(error as Error).message}` };
    }
    const t = await compareThroughput(
      (duration) => request(ctx.gateway.url, duration, ctx.gateway),
      (duration) => request(baseline.url, duration, baseline),
      ctx.rounds,
    );
    return {
      gateway: `${fmt.rps(t.gatewayRps)}; ${fmt.ms(latency)}`,
      baseline: fmt.rps(t.baselineRps),
      ratio: fmt.pct(t.ratio),
      met: t.ratio >= 0.4 && latency < 100,
      note: `trigger: CPU time of the server process per request: gateway ${Math.round(t.gatewayCpuUs)} µs (its worker runs the triggered runs meanwhile), baseline (d) ${Math.round(t.baselineCpuUs)} µs; trigger-to-RUNNING: median of ${LATENCY_SAMPLES} sequential triggers, polling \`workflowRun.status\` every 2 ms until it leaves QUEUED.`,
    };
  },
};
