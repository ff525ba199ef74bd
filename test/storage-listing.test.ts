import { Readable } from 'node:stream';
import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { waitFor } from './support/poll';

const LIST = `query($path: String!, $first: Int, $after: String, $kind: EntryKind) {
  folder(path: $path) {
    children(first: $first, after: $after, kind: $kind) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { __typename id name path createdAt parent { id path name }
        ... on File { size contentType md5 etag downloadUrl } } }
    }
  }
}`;

describe('folder listing', () => {
  const { gw, org } = useGatewayWithOrg({ storageDir: true });
  const list = (variables: Record<string, unknown>) => graphql(gw.url, LIST, variables, { apiKey: org.apiKey });
  /** Records the text of every statement the gateway sends until `stop()`. */
  const recordStatements = () => {
    const queries: string[] = [];
    const logger = gw.db.logger;
    const original = logger.logQuery.bind(logger);
    logger.logQuery = (query, parameters, runner) => {
      queries.push(query);
      return original(query, parameters, runner);
    };
    return { queries, stop: () => (logger.logQuery = original) };
  };
  const put = (folder: string, name: string) =>
    gw.services.storage.uploads.uploadFile(org.orgId, { folder, name, source: Readable.from([name]) });

  it('costs the same constant number of SQL queries for 10 or 100 children (no N+1)', async () => {
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) await gw.services.storage.changes.createFolder(org.orgId, `/big/sub/folder-${String(i).padStart(3, '0')}`);
      else await put('/big/sub', `file-${String(i).padStart(3, '0')}.txt`);
    }
    // The uploads' text extraction jobs run statements too; counted here they would be the listing's.
    await waitFor(
      async () => (await gw.db.query(`SELECT count(*)::int AS n FROM storage_texts WHERE status = 'PENDING'`))[0].n,
      (pending) => pending === 0,
      30_000,
      'the text extraction of the uploads',
    );
    const { queries, stop } = recordStatements();
    try {
      await list({ path: '/big/sub', first: 100 }); // warm-up: key-use throttle, URL signing secret
      const count = async (first: number) => {
        queries.length = 0;
        const res = await list({ path: '/big/sub', first });
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.folder.children.edges).toHaveLength(first);
        return queries.length;
      };
      const ten = await count(10);
      const hundred = await count(100);
      expect(hundred).toBe(ten);
      // auth, folder by path, page, count, paths, parents: a handful whatever the page size.
      expect(hundred).toBeLessThanOrEqual(8);
    } finally {
      stop();
    }
  });

  it('reads only the columns the selected fields need, and every field it is asked for', async () => {
    await gw.services.storage.changes.createFolder(org.orgId, '/big/columns/sub');
    const file = await put('/big/columns', 'a.txt');
    const { queries, stop } = recordStatements();
    const select = async (fields: string, fragments = '') => {
      queries.length = 0;
      const res = await graphql(
        gw.url,
        `fragment F on Entry { id } ${fragments} query { folder(path: "/big/columns") { children { edges { node { ...F __typename name ${fields} } } } } }`,
        {},
        { apiKey: org.apiKey },
      );
      expect(res.body.errors).toBeUndefined();
      const listing = queries.filter((q) => q.includes("ORDER BY (kind = 'file')"));
      expect(listing).toHaveLength(1);
      return { nodes: res.body.data.folder.children.edges.map((e: any) => e.node), sql: listing[0] };
    };
    try {
      const brief = await select('path updatedAt ... on File { size contentType }');
      expect(brief.sql).not.toMatch(/object_key|md5|etag/);
      expect(brief.nodes).toEqual([
        expect.objectContaining({ __typename: 'Folder', name: 'sub', path: '/big/columns/sub' }),
        expect.objectContaining({ __typename: 'File', name: 'a.txt', size: 5, contentType: file.contentType }),
      ]);
      // Through an inline fragment or a named one alike: md5, etag and downloadUrl need the full rows.
      for (const [fields, fragments] of [['... on File { md5 etag }'], ['...G', 'fragment G on File { downloadUrl }']]) {
        const full = await select(fields, fragments);
        expect(full.sql).toMatch(/object_key.*md5.*etag/s);
        const listed = full.nodes.find((n: any) => n.name === 'a.txt');
        if (fields.includes('md5')) expect(listed).toMatchObject({ md5: file.md5, etag: file.etag });
        else expect(listed.downloadUrl).toMatch(/^http:\/\/.*\/files\//);
      }
    } finally {
      stop();
    }
  });

  it('lists folders first, then files, by name; filters by kind; counts them all', async () => {
    for (const name of ['b.txt', 'A.txt', 'a.txt', 'é.txt', 'z.txt']) await put('/order', name);
    for (const name of ['zeta', 'alpha']) await gw.services.storage.changes.createFolder(org.orgId, `/order/${name}`);
    const all = await list({ path: '/order', first: 100 });
    const names = all.body.data.folder.children.edges.map((e: any) => e.node.name);
    expect(names).toEqual(['alpha', 'zeta', 'A.txt', 'a.txt', 'b.txt', 'z.txt', 'é.txt']);
    expect(all.body.data.folder.children.totalCount).toBe(7);
    expect(all.body.data.folder.children.edges[0].node).toMatchObject({
      __typename: 'Folder',
      path: '/order/alpha',
      parent: { path: '/order', name: 'order' },
    });
    const files = await list({ path: '/order', first: 2, kind: 'FILE' });
    expect(files.body.data.folder.children.totalCount).toBe(5);
    expect(files.body.data.folder.children.edges.map((e: any) => e.node.name)).toEqual(['A.txt', 'a.txt']);
    expect(files.body.data.folder.children.pageInfo.hasNextPage).toBe(true);
    const folders = await list({ path: '/order', kind: 'FOLDER' });
    expect(folders.body.data.folder.children.edges.map((e: any) => e.node.__typename)).toEqual(['Folder', 'Folder']);
    const root = await list({ path: '/', first: 100 });
    expect(root.body.data.folder.children.edges.map((e: any) => e.node.path)).toEqual(['/big', '/order']);
  });

  it('answers first: 0 with no edges, the count, and whether there is a page', async () => {
    const res = await list({ path: '/order', first: 0 });
    expect(res.body.data.folder.children).toEqual({ totalCount: 7, pageInfo: { hasNextPage: true, endCursor: null }, edges: [] });
  });

  it('refuses a page size over 100 and a cursor of something else', async () => {
    expect(errorCode(await list({ path: '/order', first: 101 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await list({ path: '/order', after: 'bm90LWEtY3Vyc29y' }))).toBe('BAD_USER_INPUT');
  });

  it('pages stably while entries are added and removed: no duplicates, no skipped survivors', async () => {
    const stable = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const name = `s${String(i * 10).padStart(3, '0')}`;
      if (i % 5 === 0) await gw.services.storage.changes.createFolder(org.orgId, `/churn/${name}`);
      else await put('/churn', `${name}.txt`);
      stable.add(i % 5 === 0 ? name : `${name}.txt`);
    }
    const volatile: string[] = [];
    for (let i = 0; i < 15; i++) {
      const name = `s${String(i * 20 + 5).padStart(3, '0')}.txt`;
      await put('/churn', name);
      volatile.push(name);
    }

    const seen: string[] = [];
    const keys: Array<[boolean, string]> = [];
    let after: string | null = null;
    let round = 0;
    for (;;) {
      const res = await list({ path: '/churn', first: 4, after });
      expect(res.body.errors).toBeUndefined();
      const page = res.body.data.folder.children;
      for (const edge of page.edges) {
        seen.push(edge.node.name);
        keys.push([edge.node.__typename === 'File', edge.node.name]);
      }
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
      // Churn around the cursor: remove a volatile entry, add new ones before and after it.
      round++;
      const gone = volatile.shift();
      if (gone) await gw.services.storage.trash.deleteEntry(org.orgId, `/churn/${gone}`);
      await put('/churn', `s${String(round * 7).padStart(3, '0')}-new${round}.txt`);
      await gw.services.storage.changes.createFolder(org.orgId, `/churn/late-folder-${round}`);
      // The entry that the cursor points at may itself disappear.
      if (round === 3) {
        const last = keys[keys.length - 1][1];
        if (!stable.has(last)) await gw.services.storage.trash.deleteEntry(org.orgId, `/churn/${last}`).catch(() => undefined);
      }
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const name of stable) expect(seen).toContain(name);
    // Every page continued strictly after the previous one in listing order.
    for (let i = 1; i < keys.length; i++) {
      const [prevFile, prevName] = keys[i - 1];
      const [file, name] = keys[i];
      const ordered = prevFile !== file ? !prevFile && file : Buffer.compare(Buffer.from(prevName), Buffer.from(name)) < 0;
      expect(ordered).toBe(true);
    }
  });
});
