import { compareThroughput, cpuCell, LoadResult } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt, graphqlLoad } from './figure';

const BODY = JSON.stringify({ query: '{ organization { id } }' });

/** The smallest authenticated query against baseline (b), a bare node:http answer that checks the key. */
export const organizationQuery: Figure = {
  id: 'organization',
  title: '`organization { id }`, req/s at 20 connections',
  target: '≥ 50% of baseline (b)',
  requires: ['Query.organization'],
  async run(ctx) {
    const baseline = await ctx.startBaseline('auth-json');
    const request = (server: ChildServer, duration = ctx.duration) => graphqlLoad(ctx, server.url, BODY, duration, server);
    const t = await compareThroughput(
      (duration) => request(ctx.gateway, duration),
      (duration) => request(baseline, duration),
      ctx.rounds,
    );
    const rounds = (side: LoadResult[]) => side.map((r) => Math.round(r.rps)).join('/');
    ctx.log(
      `organization: gateway ${rounds(t.comparison.gateway)} req/s, ${Math.round(t.gatewayCpuUs)} µs CPU/req; baseline ${rounds(t.comparison.baseline)} req/s, ${Math.round(t.baselineCpuUs)} µs CPU/req`,
    );
    const { ratio } = t;
    return {
      gateway: `${fmt.rps(t.gatewayRps)}; ${cpuCell(t.gatewayCpuUs)}`,
      baseline: `${fmt.rps(t.baselineRps)}; ${cpuCell(t.baselineCpuUs)}`,
      ratio: fmt.pct(ratio),
      met: ratio >= 0.5,
      note: `organization: CPU time of the server process per request: gateway ${Math.round(t.gatewayCpuUs)} µs, baseline (b) ${Math.round(t.baselineCpuUs)} µs (medians; less noisy than req/s on a shared machine).`,
    };
  },
};
