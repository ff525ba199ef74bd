import { assertClean, interleave, load, median, pairedRatio } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt } from './figure';

const BODY = JSON.stringify({ query: '{ organization { id } }' });

/** The smallest authenticated query against baseline (b), a bare node:http answer that checks the key. */
export const organizationQuery: Figure = {
  id: 'organization',
  title: '`organization { id }`, req/s at 20 connections',
  target: '≥ 50% of baseline (b)',
  requires: ['Query.organization'],
  async run(ctx) {
    const baseline = await ctx.startBaseline('auth-json');
    const request = (server: ChildServer, duration = ctx.duration) =>
      load(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: BODY,
        connections: ctx.connections,
        duration,
      }, server);
    const result = await interleave(() => request(ctx.gateway), () => request(baseline), {
      rounds: ctx.rounds,
      warmup: { gateway: () => request(ctx.gateway, 2), baseline: () => request(baseline, 2) },
    });
    assertClean('gateway', result.gateway);
    assertClean('baseline', result.baseline);
    const g = median(result.gateway.map((r) => r.rps));
    const b = median(result.baseline.map((r) => r.rps));
    const gCpu = median(result.gateway.map((r) => r.cpuPerRequestUs));
    const bCpu = median(result.baseline.map((r) => r.cpuPerRequestUs));
    ctx.log(`organization: gateway ${result.gateway.map((r) => Math.round(r.rps)).join('/')} req/s, ${Math.round(gCpu)} µs CPU/req; baseline ${result.baseline.map((r) => Math.round(r.rps)).join('/')} req/s, ${Math.round(bCpu)} µs CPU/req`);
    const ratio = pairedRatio(result, (r) => r.rps);
    return {
      gateway: fmt.rps(g),
      baseline: fmt.rps(b),
      ratio: fmt.pct(ratio),
      met: ratio >= 0.5,
      note: `organization: CPU time of the server process per request: gateway ${Math.round(gCpu)} µs, baseline (b) ${Math.round(bCpu)} µs (medians; less noisy than req/s on a shared machine).`,
    };
  },
};
