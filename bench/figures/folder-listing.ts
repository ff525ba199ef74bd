import { mustQuery, pool, upload } from '../lib/graphql';
import { assertClean, compareThroughput, load } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt } from './figure';

const FOLDER = '/bench-listing';
const QUERY = `query Listing($path: String!) {
  folder(path: $path) { children(first: 50) { edges { node { id name path ... on File { size } } } totalCount } }
}`;

/** Seeds 25 subfolders and 25 small files through the API (cheap: 50 requests). */
async function seed(url: string, apiKey: string): Promise<void> {
  await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: FOLDER });
  await pool(50, 8, async (i) => {
    const name = `entry-${String(i).padStart(2, '0')}`;
    if (i % 2) await upload(url, apiKey, FOLDER, `${name}.txt`, Buffer.from(`bench ${i}\n`));
    else await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: `${FOLDER}/${name}` });
  });
}

export const folderListing: Figure = {
  id: 'listing',
  title: 'listing a folder of 50 entries, req/s at 20 connections',
  target: '≥ 50% of baseline (a)',
  requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder', 'Mutation.uploadFile'],
  async run(ctx) {
    await seed(ctx.gateway.url, ctx.apiKey);
    const check = await mustQuery(ctx.gateway.url, ctx.apiKey, QUERY, { path: FOLDER });
    if (check.folder?.children?.edges?.length !== 50) throw new Error(`seeded folder lists ${check.folder?.children?.edges?.length} entries, not 50`);
    const body = JSON.stringify({ query: QUERY, variables: { path: FOLDER } });
    const request = (url: string, duration = ctx.duration, server?: ChildServer) =>
      load(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body,
        connections: ctx.connections,
        duration,
      }, server);
    const gatewayOnly = async () => {
      const runs = [await request(ctx.gateway.url)];
      assertClean('gateway', runs);
      return runs[0].rps;
    };
    let baseline;
    try {
      baseline = await ctx.startBaseline('folder-listing', { ORG_ID: ctx.orgId });
    } catch (error) {
      const g = await gatewayOnly();
      return { gateway: fmt.rps(g), baseline: 'n/a', ratio: 'n/a', met: null, note: `baseline (a): ${(error as Error).message}` };
    }
    const probe = await mustQuery(baseline.url, ctx.apiKey, QUERY, { path: FOLDER }).catch((e: Error) => e);
    if (probe instanceof Error || probe.folder?.children?.edges?.length !== 50) {
      const g = await gatewayOnly();
      const why = probe instanceof Error ? probe.message : `it lists ${probe.folder?.children?.edges?.length} entries`;
      return { gateway: fmt.rps(g), baseline: 'n/a', ratio: 'n/a', met: null, note: `baseline (a) does not answer the same listing (${why}); adapt FOLDER_LISTING in bench/seed/tables.ts` };
    }
    const t = await compareThroughput(
      (duration) => request(ctx.gateway.url, duration, ctx.gateway),
      (duration) => request(baseline.url, duration, baseline),
      ctx.rounds,
    );
    return {
      gateway: fmt.rps(t.gatewayRps),
      baseline: fmt.rps(t.baselineRps),
      ratio: fmt.pct(t.ratio),
      met: t.ratio >= 0.5,
      note: `listing: CPU time of the server process per request: gateway ${Math.round(t.gatewayCpuUs)} µs, baseline (a) ${Math.round(t.baselineCpuUs)} µs (medians); both send the same three statements.`,
    };
  },
};
