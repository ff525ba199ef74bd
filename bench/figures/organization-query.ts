import { assertClean, interleave, load, median, pairedRatio } from '../lib/load';
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
    const request = (url: string, duration = ctx.duration) =>
      load(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: BODY,
        connections: ctx.connections,
        duration,
      });
    const result = await interleave(() => request(ctx.gateway.url), () => request(baseline.url), {
      rounds: ctx.rounds,
      warmup: { gateway: () => request(ctx.gateway.url, 2), baseline: () => request(baseline.url, 2) },
    });
    assertClean('gateway', result.gateway);
    assertClean('baseline', result.baseline);
    const g = median(result.gateway.map((r) => r.rps));
    const b = median(result.baseline.map((r) => r.rps));
    ctx.log(`organization: gateway ${result.gateway.map((r) => Math.round(r.rps)).join('/')} baseline ${result.baseline.map((r) => Math.round(r.rps)).join('/')}`);
    return { gateway: fmt.rps(g), baseline: fmt.rps(b), ratio: fmt.pct(pairedRatio(result, (r) => r.rps)), met: pairedRatio(result, (r) => r.rps) >= 0.5 };
  },
};
