import { mustQuery } from '../lib/graphql';
import { compareLatency, sequential } from '../lib/load';
import { tablesExist, withClient } from '../lib/postgres';
import { seedTrashAndVersions, seedWideFolder, TRASH_TABLES } from '../seed/tables';
import { Figure, fmt, NotApplicable } from './figure';
import { LISTING_QUERY, seedListingFolder } from './folder-listing';

/** The trash and versions beside the live tree, as a multiple of it (the "10 times"). */
const TIMES = 10;
/** "no worse than 1.1×" the same figure without them, in the same run. */
const LIMIT = 1.1;

async function requireTables(databaseUrl: string): Promise<void> {
  const missing = await tablesExist(databaseUrl, TRASH_TABLES);
  if (missing.length)
    throw new NotApplicable(`seeding needs tables ${missing.join(', ')}; adapt seedTrashAndVersions in bench/seed/tables.ts`);
}

/**
 * The listing figure's folder twice, through the API: one alone, and one with 10 trashed entries
 * beside each live one (names interleaved with the live ones) and 10 kept versions of each file.
 * Both listed alternately, one request at a time (p50: on this shared machine req/s at 20
 * connections swung ±15% between runs of the same build, the sequential p50 a few percent).
 */
export const listingBesideTrash: Figure = {
  id: 'listing-trash',
  title: `listing a folder of 50 entries with ${TIMES}× as many trashed entries and versions beside them, p50 against the same folder without`,
  target: `≤ ${LIMIT}× the listing without`,
  requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder', 'Mutation.uploadFile', 'Query.trash', 'File.versions'],
  async run(ctx) {
    await requireTables(ctx.databaseUrl);
    const plain = '/bench-listing-plain';
    const crowded = '/bench-listing-trash';
    await seedListingFolder(ctx.gateway.url, ctx.apiKey, plain);
    const crowdedId = await seedListingFolder(ctx.gateway.url, ctx.apiKey, crowded);
    const seeded = await withClient(ctx.databaseUrl, (db) =>
      seedTrashAndVersions(db, {
        orgId: ctx.orgId,
        folderId: crowdedId,
        folderPath: crowded,
        trashedPerEntry: TIMES,
        versionsPerFile: TIMES,
      }),
    );
    const page = async (path: string) => (await mustQuery(ctx.gateway.url, ctx.apiKey, LISTING_QUERY, { path })).folder.children;
    const [a, b] = [await page(plain), await page(crowded)];
    if (a.totalCount !== 50 || b.totalCount !== 50 || b.edges.length !== 50)
      throw new Error(`the folders list ${a.totalCount} and ${b.totalCount} entries, not 50 each`);
    const request = (path: string, duration = ctx.duration) =>
      sequential(`${ctx.gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: JSON.stringify({ query: LISTING_QUERY, variables: { path } }),
        duration,
      });
    const { gatewayP50, baselineP50, ratio } = await compareLatency(
      (duration) => request(crowded, duration),
      (duration) => request(plain, duration),
      ctx.rounds,
      ['listing with trash', 'listing without'],
    );
    return {
      gateway: `with trash ${fmt.ms(gatewayP50)}`,
      baseline: `without ${fmt.ms(baselineP50)}`,
      ratio: fmt.times(ratio),
      met: ratio <= LIMIT,
      note: `listing-trash: ${seeded.trashed} trashed entries and ${seeded.versions} versions seeded by SQL beside the 50 live entries (trashed names sort between the live ones); the listing query of the listing figure (page of 50 with totalCount), one request at a time, p50 median of paired rounds.`,
    };
  },
};

const DEEP_QUERY = `query Page($path: String!, $after: String) {
  folder(path: $path) { children(first: 50, after: $after) { edges { cursor node { id name ... on File { size } } } pageInfo { hasNextPage endCursor } } }
}`;

/**
 * The deep-page figure's folder twice: one alone, one with 10 trashed files beside each live one
 * (interleaved by name) and 10 kept versions of each file. p50 of the page after the middle entry
 * of each, alternately on one connection.
 */
export const deepPageBesideTrash: Figure = {
  id: 'deep-page-trash',
  title: `folder of 100,000 entries with ${TIMES}× as many trashed entries and versions beside them: the page after the 50,000th, p50 against the same page without`,
  target: `≤ ${LIMIT}× the page without`,
  requires: ['Query.folder', 'Folder.children', 'Mutation.createFolder', 'Query.trash', 'File.versions'],
  async run(ctx) {
    await requireTables(ctx.databaseUrl);
    const count = Number(process.env.BENCH_WIDE_ENTRIES ?? 100_000);
    const position = Math.floor(count / 2);
    const started = Date.now();
    const folders: Record<string, { path: string; cursor: string }> = {};
    let seeded = { trashed: 0, versions: 0 };
    for (const name of ['plain', 'crowded']) {
      const path = `/bench-wide-${name}`;
      const { createFolder } = await mustQuery(ctx.gateway.url, ctx.apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', {
        p: path,
      });
      const { cursor } = await withClient(ctx.databaseUrl, async (db) => {
        const wide = await seedWideFolder(db, { orgId: ctx.orgId, folderId: createFolder.id, count, position });
        if (name === 'crowded') {
          seeded = await seedTrashAndVersions(db, {
            orgId: ctx.orgId,
            folderId: createFolder.id,
            folderPath: path,
            trashedPerEntry: TIMES,
            versionsPerFile: TIMES,
          });
        }
        return wide;
      });
      folders[name] = { path, cursor };
    }
    ctx.log(
      `seeded 2 × ${count} entries, ${seeded.trashed} trashed and ${seeded.versions} versions in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const expected = `f${String(position + 1).padStart(6, '0')}.txt`;
    for (const { path, cursor } of Object.values(folders)) {
      const deep = await mustQuery(ctx.gateway.url, ctx.apiKey, DEEP_QUERY, { path, after: cursor });
      const names = deep.folder?.children?.edges?.map((e: { node: { name: string } }) => e.node.name) ?? [];
      if (names[0] !== expected || names.length !== 50 || names.some((n: string) => n.includes('~')))
        throw new Error(`the deep page of ${path} starts at ${names[0]} (${names.length} entries), not ${expected}`);
    }
    const request = (name: string, duration = ctx.duration) =>
      sequential(`${ctx.gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
        body: JSON.stringify({ query: DEEP_QUERY, variables: { path: folders[name].path, after: folders[name].cursor } }),
        duration,
      });
    const { gatewayP50, baselineP50, ratio } = await compareLatency(
      (duration) => request('crowded', duration),
      (duration) => request('plain', duration),
      ctx.rounds,
      ['deep page with trash', 'deep page without'],
    );
    return {
      gateway: `with trash ${fmt.ms(gatewayP50)}`,
      baseline: `without ${fmt.ms(baselineP50)}`,
      ratio: fmt.times(ratio),
      met: ratio <= LIMIT,
      note: `deep-page-trash: two folders of ${count.toLocaleString('en-US')} file rows seeded by SQL, one with ${seeded.trashed.toLocaleString('en-US')} trashed files (interleaved by name) and ${seeded.versions.toLocaleString('en-US')} versions beside them; the page after the ${position.toLocaleString('en-US')}th live entry by its cursor in each, p50 median of paired rounds.`,
    };
  },
};
