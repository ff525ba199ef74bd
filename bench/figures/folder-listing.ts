import { mustQuery, pool, upload } from '../lib/graphql';
import { compareThroughput } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt, graphqlLoad } from './figure';

const FOLDER = '/bench-listing';
export const LISTING_QUERY = `query Listing($path: String!) {
  folder(path: $path) { children(first: 50) { totalCount edges { node { id name path ... on File { size contentType updatedAt } } } } }
}`;

const QUERY = LISTING_QUERY;

/** Seeds 25 subfolders and 25 small files through the API (cheap: 50 requests) under `folder`; its id. */
export async function seedListingFolder(url: string, apiKey: string, folder = FOLDER): Promise<string> {
  const { createFolder } = await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: folder });
  await pool(50, 8, async (i) => {
    const name = `entry-${String(i).padStart(2, '0')}`;
    if (i % 2) await upload(url, apiKey, folder, `${name}.txt`, Buffer.from(`bench ${i}\n`));
    else await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: `${folder}/${name}` });
  });
  return createFolder.id;
}

/** The answer without volatile formatting, to check that both servers give the same one. */
const canonical = (answer: any) => JSON.stringify(answer);

export const folderListing: Figure = {
  id: 'listing',
  title: 'listing a folder of 50 entries, req/s at 20 connections',
  target: '≥ 50% of baseline (a)',
  requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder', 'Mutation.uploadFile'],
  async run(ctx) {
    const folderId = await seedListingFolder(ctx.gateway.url, ctx.apiKey);
    const check = await mustQuery(ctx.gateway.url, ctx.apiKey, QUERY, { path: FOLDER });
    if (check.folder?.children?.edges?.length !== 50)
      throw new Error(`seeded folder lists ${check.folder?.children?.edges?.length} entries, not 50`);
    const body = JSON.stringify({ query: QUERY, variables: { path: FOLDER } });
    const request = (url: string, duration = ctx.duration, server?: ChildServer) => graphqlLoad(ctx, url, body, duration, server);
    const baseline = await ctx.startBaseline('folder-listing', { FOLDER_ID: folderId, FOLDER_PATH: FOLDER });
    const probe = await mustQuery(baseline.url, ctx.apiKey, QUERY, { path: FOLDER });
    if (canonical(probe) !== canonical(check)) {
      throw new Error(
        `baseline (a) answers another listing than the gateway:\n${canonical(probe).slice(0, 300)}\n${canonical(check).slice(0, 300)}`,
      );
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
      note: `listing: CPU time of the server process per request: gateway ${Math.round(t.gatewayCpuUs)} µs, baseline (a) ${Math.round(t.baselineCpuUs)} µs (medians); baseline (a) knows the folder's id and sends one prepared statement for the page and the count.`,
    };
  },
};
