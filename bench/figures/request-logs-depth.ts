import { mustQuery } from '../lib/graphql';
import { compareLatency, sequential } from '../lib/load';
import { tablesExist, withClient } from '../lib/postgres';
import { REQUEST_LOG_TABLES, seedRequestLogs } from '../seed/tables';
import { Figure, fmt, NotApplicable } from './figure';
import { createBenchWorkflow } from './workflow-setup';

const RUNS = () => Number(process.env.BENCH_RUNS ?? 1_000_000);
const QUERY = `query Logs($id: ID!, $after: String) {
  teammate(id: $id) { requestLogs(first: 20, after: $after) { edges { node { id status durationMs createdAt } } pageInfo { hasNextPage endCursor } } }
}`;

/** p50 of a page of 20 request logs a million runs deep, against the first page (1 connection). */
export const requestLogsDepth: Figure = {
  id: 'request-logs',
  title: '`requestLogs` page of 20 at a depth of 1,000,000 runs, p50 against the first page',
  target: '≤ 1.5× the first page',
  requires: ['Query.teammate', 'Teammate.requestLogs'],
  async run(ctx) {
    const missing = await tablesExist(ctx.databaseUrl, REQUEST_LOG_TABLES);
    if (missing.length)
      throw new NotApplicable(`seeding needs tables ${missing.join(', ')}; adapt seedRequestLogs in bench/seed/tables.ts`);
    const workflowId = await createBenchWorkflow(ctx);
    const { teammateId } = await ctx.cli<{ teammateId: string }>([
      'teammate',
      'create',
      '--org',
      ctx.orgId,
      '--name',
      'bench',
      '--workflow',
      workflowId,
      '--channel',
      'API',
    ]);
    const count = RUNS();
    const started = Date.now();
    const { deepCursor } = await withClient(ctx.databaseUrl, (db) =>
      seedRequestLogs(db, { orgId: ctx.orgId, workflowId, teammateId, count }),
    );
    ctx.log(`seeded ${count} runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const deep = await mustQuery(ctx.gateway.url, ctx.apiKey, QUERY, { id: teammateId, after: deepCursor });
    if (deep.teammate?.requestLogs?.edges?.length !== 20) {
      throw new NotApplicable(
        `the deep cursor reads ${deep.teammate?.requestLogs?.edges?.length} logs, not 20; adapt seedRequestLogs's cursor in bench/seed/tables.ts`,
      );
    }
    // Timed by the client's high-resolution clock: autocannon's latencies are whole milliseconds,
    // and both pages answer in under one here (it read "0.0 ms against 0.0 ms").
    const request = (after: string | null, duration = ctx.duration) =>
      sequential(`${ctx.gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: JSON.stringify({ query: QUERY, variables: { id: teammateId, after } }),
        duration,
      });
    const { gatewayP50: d, baselineP50: f } = await compareLatency(
      (duration) => request(deepCursor, duration),
      (duration) => request(null, duration),
      ctx.rounds,
      ['deep page', 'first page'],
    );
    const ratio = d / Math.max(f, 1);
    return {
      gateway: `deep page ${fmt.ms(d)}`,
      baseline: `first page ${fmt.ms(f)}`,
      ratio: fmt.times(ratio),
      met: ratio <= 1.5,
      note: `request logs: ${count.toLocaleString('en-US')} runs seeded by SQL (one INSERT … SELECT generate_series); the deep page is the last one (cursor of the 21st oldest run); sequential requests on one connection timed by the client (high-resolution clock); the "baseline" column is the gateway's own first page.`,
    };
  },
};
