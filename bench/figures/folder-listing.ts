import { mustQuery, pool, upload } from '../lib/graphql';
import { compareThroughput, cpuCell } from '../lib/load';
import type { ChildServer } from '../lib/child';
import { Figure, fmt, graphqlLoad } from './figure';

export const LISTING_QUERY = `query Listing($path: String!) {
  folder(path: $path) { children(first: 50) { totalCount edges { node { id name path ... on File { size contentType updatedAt } } } } }
}`;

const QUERY = LISTING_QUERY;
const PAGE = 50;

/**
 * Seeds `count` entries through the API under `folder`, half subfolders and half small files
 * (50 entries: 50 requests; 1,000: about 5 s); the folder's id.
 */
export async function seedListingFolder(url: string, apiKey: string, folder = '/bench-listing', count = PAGE): Promise<string> {
  const { createFolder } = await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: folder });
  const digits = String(count - 1).length;
  await pool(count, 8, async (i) => {
    const name = `entry-${String(i).padStart(Math.max(digits, 2), '0')}`;
    if (i % 2) await upload(url, apiKey, folder, `${name}.txt`, Buffer.from(`bench ${i}\n`));
    else await mustQuery(url, apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: `${folder}/${name}` });
  });
  return createFolder.id;
}

/** The answer without volatile formatting, to check that both servers give the same one. */
const canonical = (answer: any) => JSON.stringify(answer);

/** The listing query (page of 50 with `totalCount`) on a folder of `entries` children, against baseline (a). */
function listingFigure(id: string, entries: number): Figure {
  const folder = entries === PAGE ? '/bench-listing' : `/bench-listing-${entries}`;
  const size = entries.toLocaleString('en-US');
  return {
    id,
    title:
      entries === PAGE
        ? 'listing a folder of 50 entries, req/s at 20 connections'
        : `listing the first 50 of a folder of ${size} entries, req/s at 20 connections`,
    target: '≥ 50% of baseline (a)',
    requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder', 'Mutation.uploadFile'],
    async run(ctx) {
      const folderId = await seedListingFolder(ctx.gateway.url, ctx.apiKey, folder, entries);
      const check = await mustQuery(ctx.gateway.url, ctx.apiKey, QUERY, { path: folder });
      if (check.folder?.children?.edges?.length !== PAGE || check.folder.children.totalCount !== entries)
        throw new Error(
          `seeded folder lists ${check.folder?.children?.edges?.length} of ${check.folder?.children?.totalCount} entries, not ${PAGE} of ${entries}`,
        );
      const body = JSON.stringify({ query: QUERY, variables: { path: folder } });
      const request = (url: string, duration = ctx.duration, server?: ChildServer) => graphqlLoad(ctx, url, body, duration, server);
      const baseline = await ctx.startBaseline('folder-listing', { FOLDER_ID: folderId, FOLDER_PATH: folder });
      const probe = await mustQuery(baseline.url, ctx.apiKey, QUERY, { path: folder });
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
      const rounds = (side: typeof t.comparison.gateway) =>
        side.map((r) => `${Math.round(r.rps)} (${Math.round(r.cpuPerRequestUs)} µs)`).join(', ');
      return {
        gateway: `${fmt.rps(t.gatewayRps)}; ${cpuCell(t.gatewayCpuUs)}`,
        baseline: `${fmt.rps(t.baselineRps)}; ${cpuCell(t.baselineCpuUs)}`,
        ratio: fmt.pct(t.ratio),
        met: t.ratio >= 0.5,
        note: `${id}: CPU time of the server process per request (medians of the rounds): gateway ${Math.round(t.gatewayCpuUs)} µs, baseline (a) ${Math.round(t.baselineCpuUs)} µs; rounds gateway ${rounds(t.comparison.gateway)}, baseline ${rounds(t.comparison.baseline)}; baseline (a) knows the folder's id and sends one prepared statement for the page and the count.`,
      };
    },
  };
}

export const folderListing = listingFigure('listing', PAGE);

/** The same page and count in a folder twenty times as big: what grows with the folder, not the page. */
export const folderListing1000 = listingFigure('listing-1000', 1_000);
