import { mustQuery } from '../lib/graphql';
import { compareLatency, sequential } from '../lib/load';
import { withClient } from '../lib/postgres';
import { seedWideFolder } from '../seed/tables';
import { Figure, fmt } from './figure';

const FOLDER = '/bench-wide';
const ENTRIES = () => Number(process.env.BENCH_WIDE_ENTRIES ?? 100_000);
const QUERY = `query Page($path: String!, $after: String) {
  folder(path: $path) { children(first: 50, after: $after) { edges { cursor node { id name ... on File { size } } } pageInfo { hasNextPage endCursor } } }
}`;

/** p50 of the page after the 50,000th entry of a 100,000-entry folder, against its first page (1 connection). */
export const deepPage: Figure = {
  id: 'deep-page',
  title: 'folder of 100,000 entries: the page of 50 after the 50,000th by cursor, p50 against the first page',
  target: '≤ 1.5× the first page',
  requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder'],
  async run(ctx) {
    const count = ENTRIES();
    const position = Math.floor(count / 2);
    const started = Date.now();
    const { createFolder } = await mustQuery(ctx.gateway.url, ctx.apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', {
      p: FOLDER,
    });
    const { cursor } = await withClient(ctx.databaseUrl, (db) =>
      seedWideFolder(db, { orgId: ctx.orgId, folderId: createFolder.id, count, position }),
    );
    ctx.log(`seeded ${count} entries under ${FOLDER} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const deep = await mustQuery(ctx.gateway.url, ctx.apiKey, QUERY, { path: FOLDER, after: cursor });
    const expected = `f${String(position + 1).padStart(6, '0')}.txt`;
    if (deep.folder?.children?.edges?.[0]?.node?.name !== expected) {
      throw new Error(`the deep page starts at ${deep.folder?.children?.edges?.[0]?.node?.name}, not ${expected}`);
    }
    const request = (after: string | null, duration = ctx.duration) =>
      sequential(`${ctx.gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: JSON.stringify({ query: QUERY, variables: { path: FOLDER, after } }),
        duration,
      });
    const {
      gatewayP50: d,
      baselineP50: f,
      ratio,
    } = await compareLatency(
      (duration) => request(cursor, duration),
      (duration) => request(null, duration),
      ctx.rounds,
      ['deep page', 'first page'],
    );
    return {
      gateway: `deep page ${fmt.ms(d)}`,
      baseline: `first page ${fmt.ms(f)}`,
      ratio: fmt.times(ratio),
      met: ratio <= 1.5,
      note: `deep page: ${count.toLocaleString('en-US')} file rows seeded by SQL in one folder; the page after the ${position.toLocaleString('en-US')}th entry by its cursor, no totalCount asked; the "baseline" column is the gateway's own first page.`,
    };
  },
};
