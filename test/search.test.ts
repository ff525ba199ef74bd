import { Writable } from 'node:stream';
import { useGatewayWithOrg } from './support/gateway';
import { makeDocx, makePdf } from './support/documents';
import { errorCode, graphql } from './support/http';
import { waitFor } from './support/poll';
import { uploadFile } from './support/storage';

/** The gateway's JSON log lines, parsed. */
class LogCapture extends Writable {
  text = '';
  _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void) {
    this.text += chunk.toString();
    callback();
  }
  lines(): Array<Record<string, any>> {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }
}

const SEARCH = `query($query: String!, $first: Int, $after: String, $under: String, $kind: EntryKind) {
  search(query: $query, first: $first, after: $after, under: $under, kind: $kind) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { score snippet node { __typename id name path ... on File { textStatus } } } }
  }
}`;

/** Bigger than the TEXT_EXTRACTION_MAX_BYTES this gateway runs with. */
const MAX_TEXT_BYTES = 50_000;

describe('search over names and the text inside files', () => {
  const logs = new LogCapture();
  const { gw, org } = useGatewayWithOrg({
    storageDir: true,
    logDestination: logs,
    env: { TEXT_EXTRACTION_MAX_BYTES: String(MAX_TEXT_BYTES) },
  });

  const search = async (query: string, args: Record<string, unknown> = {}, apiKey = org.apiKey) => {
    const res = await graphql(gw.url, SEARCH, { query, first: 50, ...args }, { apiKey });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.search as {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      edges: Array<{ cursor: string; node: { score: number; snippet: string | null; node: Record<string, any> } }>;
    };
  };
  const paths = async (query: string, args: Record<string, unknown> = {}) => (await search(query, args)).edges.map((e) => e.node.node.path);

  const upload = async (folder: string, name: string, bytes: Buffer | string, contentType?: string, apiKey = org.apiKey) => {
    const res = await uploadFile(gw.url, apiKey, folder, name, bytes, { contentType, select: 'id path etag textStatus' });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.uploadFile as { id: string; path: string; etag: string; textStatus: string };
  };

  const statusOf = async (path: string, apiKey = org.apiKey) => {
    const res = await graphql(gw.url, 'query($path: String!) { file(path: $path) { textStatus } }', { path }, { apiKey });
    return res.body.data?.file?.textStatus as string | null;
  };
  /** Extraction is a drain that runs after the upload answered: wait for its outcome. */
  const settled = (path: string, apiKey = org.apiKey) =>
    waitFor(
      () => statusOf(path, apiKey),
      (status) => status !== 'PENDING',
      30_000,
      `the text status of ${path} to settle`,
    );

  beforeAll(async () => {
    const uploads = [
      upload(
        '/finance',
        'Quarterly Revenue.pdf',
        await makePdf([
          ['Revenue grew in the Zurich office.', 'The espresso machines sold best in the second quarter.'],
          ['Page two mentions the Bürgenstock retreat and its budget.'],
        ]),
        'application/pdf',
      ),
      upload(
        '/hr',
        'Handbook.docx',
        await makeDocx(['Welcome to the team.', 'Holidays are planned with the Übersicht calendar in January.']),
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      ),
      upload('/notes', 'Café Notes.md', '# Meeting\n\nWe tasted a *naïve* roast from Kyoto.\n'),
      upload(
        '/notes',
        'page.html',
        '<html><head><style>.invisible { color: red }</style></head><body><p>Lighthouse keepers <b>gather</b> in <a href="https://example.org/secretlink">Bergen</a>.</p></body></html>',
        'text/html',
      ),
      upload('/data', 'cities.csv', 'city,population\nReykjavik,131000\nTromsø,77000\n'),
      upload('/data', 'config.json', '{"owner": "Marguerite", "tags": ["orchid"]}'),
      upload('/images', 'logo.png', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), 'image/png'),
    ];
    for (const done of await Promise.all(uploads)) await settled(done.path);
  });

  it('answers the upload before the text is read: textStatus PENDING, then INDEXED by the drain', async () => {
    const file = await upload('/pending', 'later.txt', 'patience is rewarded');
    // The drain may already have run by the time this is read; PENDING is what the upload itself answered.
    expect(file.textStatus).toBe('PENDING');
    expect(await settled('/pending/later.txt')).toBe('INDEXED');
    expect(await paths('patience')).toEqual(['/pending/later.txt']);
  });

  it('finds names case- and accent-insensitively, words in any order, prefixes of words', async () => {
    expect(await paths('quart rev')).toContain('/finance/Quarterly Revenue.pdf');
    expect(await paths('REVENUE quarterly')).toContain('/finance/Quarterly Revenue.pdf');
    expect(await paths('cafe notes')).toEqual(['/notes/Café Notes.md']);
    expect(await paths('CAFÉ')).toEqual(['/notes/Café Notes.md']);
    // A file's extension is a word of its name.
    expect(await paths('docx')).toEqual(['/hr/Handbook.docx']);
    // Every word must match.
    expect(await paths('quarterly handbook')).toEqual([]);
  });

  it('finds text inside a PDF, with a snippet that marks the matched words', async () => {
    const found = await search('espresso');
    expect(found.edges).toHaveLength(1);
    const [hit] = found.edges;
    expect(hit.node.node).toMatchObject({ __typename: 'File', path: '/finance/Quarterly Revenue.pdf', textStatus: 'INDEXED' });
    expect(hit.node.snippet).toContain('**espresso**');
    expect(hit.node.snippet).toMatch(/machines sold best/);
    expect(hit.node.score).toBeGreaterThan(0);
    expect(hit.node.score).toBeLessThan(1); // text only, no name match
    // Text of the second page too.
    expect(await paths('Burgenstock')).toEqual(['/finance/Quarterly Revenue.pdf']);
  });

  it('finds text inside a DOCX, Markdown, HTML (text only), CSV and JSON', async () => {
    const docx = await search('ubersicht');
    expect(docx.edges.map((e) => e.node.node.path)).toEqual(['/hr/Handbook.docx']);
    expect(docx.edges[0].node.snippet).toContain('**Übersicht**');
    expect(await paths('kyoto')).toEqual(['/notes/Café Notes.md']);
    expect(await paths('NAIVE')).toEqual(['/notes/Café Notes.md']);
    expect(await paths('lighthouse bergen')).toEqual(['/notes/page.html']);
    // Markup, styles and link targets are no text of the page.
    expect(await paths('secretlink')).toEqual([]);
    expect(await paths('invisible')).toEqual([]);
    expect(await paths('tromso')).toEqual(['/data/cities.csv']);
    expect(await paths('marguerite orchid')).toEqual(['/data/config.json']);
  });

  it('reads a PENDING text whose kick was lost (a gateway killed between the commit and the kick): the periodic drain', async () => {
    const file = await upload('/lost', 'kick.txt', 'a patient tortoise');
    expect(await settled('/lost/kick.txt')).toBe('INDEXED');
    // The row as the upload's commit leaves it, and no kick: only the drain every process sends
    // every EXTRACT_PENDING_TEXTS_EVERY_SECONDS (30) reads it.
    await gw.db.query(
      `UPDATE storage_texts SET status = 'PENDING', body = NULL, document = NULL, extracted_at = NULL, read_after = NULL, attempts = 0
        WHERE entry_id = $1`,
      [file.id],
    );
    expect(await paths('tortoise')).toEqual([]);
    expect(
      await waitFor(
        () => statusOf('/lost/kick.txt'),
        (status) => status !== 'PENDING',
        60_000,
        'the periodic drain',
      ),
    ).toBe('INDEXED');
    expect(await paths('tortoise')).toEqual(['/lost/kick.txt']);
  }, 90_000);

  it('puts name matches before text matches', async () => {
    await upload('/rank', 'zeppelin.txt', 'nothing to see');
    await upload('/rank', 'airships.txt', 'a zeppelin flew over the hangar');
    await settled('/rank/zeppelin.txt');
    await settled('/rank/airships.txt');
    const found = await search('zeppelin');
    expect(found.edges.map((e) => e.node.node.path)).toEqual(['/rank/zeppelin.txt', '/rank/airships.txt']);
    expect(found.edges[0].node.score).toBeGreaterThanOrEqual(1);
    expect(found.edges[0].node.snippet).toBeNull();
    expect(found.edges[1].node.snippet).toMatch(/\*\*zeppelin\*\* flew over the hangar$/);
  });

  it('finds a word far into a long text; its snippet then comes from the start, unmarked', async () => {
    const filler = 'lorem ipsum dolor sit amet '.repeat(1500); // about 40,000 characters
    await upload('/long', 'book.txt', `Opening line of the book. ${filler} the final chapter mentions aardvarks`);
    expect(await settled('/long/book.txt')).toBe('INDEXED');
    const [hit] = (await search('aardvarks')).edges;
    expect(hit.node.node.path).toBe('/long/book.txt');
    expect(hit.node.snippet).toMatch(/^Opening line of the book/);
    expect(hit.node.snippet).not.toContain('**');
  });

  it('says NOT_TEXT for files whose text it does not read, and still finds them by name', async () => {
    expect(await statusOf('/images/logo.png')).toBe('NOT_TEXT');
    expect(await paths('logo')).toEqual(['/images/logo.png']);
    // Known from the type alone: said by the upload itself (its commit wrote the row), with no
    // kick for a drain (sent with no singleton key; the periodic sends have one), and no drain took it.
    const kicks = async () =>
      (
        await gw.db.query(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'storage.extract-pending-texts' AND singleton_key IS NULL`,
        )
      )[0].n as number;
    const before = await kicks();
    const archive = await upload('/images', 'bundle.zip', Buffer.from('504b0506' + '00'.repeat(18), 'hex'), 'application/zip');
    expect(archive.textStatus).toBe('NOT_TEXT');
    expect(await kicks()).toBe(before);
    expect(await gw.db.query(`SELECT status, attempts, extracted_at FROM storage_texts WHERE entry_id = $1`, [archive.id])).toEqual([
      { status: 'NOT_TEXT', attempts: 0, extracted_at: null },
    ]);
  });

  it("limits results to a folder's tree with `under`, and to one kind with `kind`", async () => {
    await upload('/projects/alpha/deep/er', 'glacier.txt', 'ice');
    await upload('/projects/beta', 'glacier.txt', 'ice');
    await upload('/elsewhere', 'glacier.txt', 'ice');
    await gw.services.storage.changes.createFolder(org.orgId, '/projects/glacier survey');
    expect((await paths('glacier')).sort()).toEqual([
      '/elsewhere/glacier.txt',
      '/projects/alpha/deep/er/glacier.txt',
      '/projects/beta/glacier.txt',
      '/projects/glacier survey',
    ]);
    expect((await paths('glacier', { under: '/projects' })).sort()).toEqual([
      '/projects/alpha/deep/er/glacier.txt',
      '/projects/beta/glacier.txt',
      '/projects/glacier survey',
    ]);
    expect(await paths('glacier', { under: '/projects/alpha' })).toEqual(['/projects/alpha/deep/er/glacier.txt']);
    expect((await paths('glacier', { under: '/' })).length).toBe(4);
    expect(await paths('glacier', { under: '/projects', kind: 'FOLDER' })).toEqual(['/projects/glacier survey']);
    expect(await paths('glacier', { kind: 'FILE', under: '/projects/beta' })).toEqual(['/projects/beta/glacier.txt']);
    // No folder there (or a file): nothing is below it.
    const none = await search('glacier', { under: '/projects/nothing-here' });
    expect(none).toMatchObject({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect(await paths('glacier', { under: '/elsewhere/glacier.txt' })).toEqual([]);
  });

  it('pages with cursors, best first, every result once, with totalCount', async () => {
    for (let i = 0; i < 7; i++) await upload('/paging', `report-${i}.txt`, `walrus ${'walrus '.repeat(i)}`);
    for (let i = 0; i < 7; i++) await settled(`/paging/report-${i}.txt`);
    const all = await search('walrus');
    expect(all.totalCount).toBe(7);
    const scores = all.edges.map((e) => e.node.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);

    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await search('walrus', { first: 3, after });
      expect(page.totalCount).toBe(7);
      seen.push(...page.edges.map((e) => e.node.node.path));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.edges.map((e) => e.node.node.path));
    expect(new Set(seen).size).toBe(7);

    const empty = await search('walrus', { first: 0 });
    expect(empty).toMatchObject({ totalCount: 7, edges: [], pageInfo: { hasNextPage: true } });
  });

  it('never shows another organization its files, by name or by text', async () => {
    const other = await gw.createOrg('Other');
    await upload('/', 'narwhal secrets.txt', 'the narwhal migrates north', undefined, other.apiKey);
    await settled('/narwhal secrets.txt', other.apiKey);
    expect(await paths('narwhal')).toEqual([]);
    expect(await paths('migrates')).toEqual([]);
    const theirs = await graphql(gw.url, SEARCH, { query: 'narwhal' }, { apiKey: other.apiKey });
    expect(theirs.body.data.search.edges.map((e: any) => e.node.node.path)).toEqual(['/narwhal secrets.txt']);
    // And theirs does not see ours.
    const ours = await graphql(gw.url, SEARCH, { query: 'espresso' }, { apiKey: other.apiKey });
    expect(ours.body.data.search.totalCount).toBe(0);
  });

  it('fails only the extraction of a corrupt PDF, with the reason in the log; its name stays searchable', async () => {
    const broken = await upload(
      '/broken',
      'damaged.pdf',
      Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage without xref'),
      'application/pdf',
    );
    const fine = await upload('/broken', 'fine.txt', 'a sturdy kayak');
    expect(await settled('/broken/damaged.pdf')).toBe('FAILED');
    expect(await settled('/broken/fine.txt')).toBe('INDEXED');
    const line = (await waitFor(
      () => logs.lines().find((l) => l.msg === 'text extraction failed' && l.entryId === broken.id),
      Boolean,
      5000,
      'the log line of the failed extraction',
    )) as Record<string, any>;
    expect(line.reason).toMatch(/PDF/);
    expect(await paths('damaged')).toEqual(['/broken/damaged.pdf']);
    expect(await paths('kayak')).toEqual([fine.path]);
  });

  it('fails files over TEXT_EXTRACTION_MAX_BYTES without reading them', async () => {
    await upload('/big', 'huge.txt', `albatross ${'x'.repeat(MAX_TEXT_BYTES)}`);
    expect(await settled('/big/huge.txt')).toBe('FAILED');
    expect(await paths('albatross')).toEqual([]);
    expect(logs.lines().some((l) => l.msg === 'text extraction failed' && /TEXT_EXTRACTION_MAX_BYTES/.test(l.reason))).toBe(true);
  });

  it('reads the text again on overwrite: the old text is found no more, the new one is', async () => {
    await upload('/over', 'draft.txt', 'the first draft mentions pelicans');
    await settled('/over/draft.txt');
    expect(await paths('pelicans')).toEqual(['/over/draft.txt']);
    const second = await upload('/over', 'draft.txt', 'the second draft mentions flamingos');
    // In the overwrite's own commit the old text went: not found even before the drain ran.
    expect(await paths('pelicans')).toEqual([]);
    expect(await settled('/over/draft.txt')).toBe('INDEXED');
    expect(await paths('flamingos')).toEqual([second.path]);
    expect(await paths('pelicans')).toEqual([]);
  });

  it('does not read the text again on move or rename, and finds the file at its new path', async () => {
    await upload('/moving', 'atlas.txt', 'cartographers draw coastlines');
    await settled('/moving/atlas.txt');
    const kicks = async () =>
      (
        await gw.db.query(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'storage.extract-pending-texts' AND singleton_key IS NULL`,
        )
      )[0].n as number;
    const extractedAt = async () =>
      (
        await gw.db.query(`SELECT extracted_at FROM storage_texts t JOIN storage_entries e ON e.id = t.entry_id WHERE e.name = $1`, [
          'maps.txt',
        ])
      )[0]?.extracted_at as Date | undefined;
    const before = await kicks();
    const renamed = await graphql(
      gw.url,
      'mutation { renameEntry(path: "/moving/atlas.txt", name: "maps.txt") { path } }',
      {},
      { apiKey: org.apiKey },
    );
    expect(renamed.body.errors).toBeUndefined();
    const firstExtraction = await extractedAt();
    expect(firstExtraction).toBeInstanceOf(Date);
    await gw.services.storage.changes.createFolder(org.orgId, '/moved/here');
    const moved = await graphql(
      gw.url,
      'mutation { moveEntry(path: "/moving/maps.txt", to: "/moved/here") { path } }',
      {},
      { apiKey: org.apiKey },
    );
    expect(moved.body.data.moveEntry.path).toBe('/moved/here/maps.txt');
    // No read was asked: no kick, and the text row is as the first read left it (extracted_at below).
    expect(await kicks()).toBe(before);
    expect(await statusOf('/moved/here/maps.txt')).toBe('INDEXED');
    expect((await extractedAt())!.getTime()).toBe(firstExtraction!.getTime());
    const found = await search('coastlines');
    expect(found.edges.map((e) => e.node.node.path)).toEqual(['/moved/here/maps.txt']);
    expect(await paths('maps')).toEqual(['/moved/here/maps.txt']);
    expect(await paths('atlas')).toEqual([]);
  });

  it('finds nothing in the trash (a file, or a file under a trashed folder), and finds it again once restored', async () => {
    await upload('/gone', 'ephemeral.txt', 'mayflies live one day');
    await settled('/gone/ephemeral.txt');
    expect(await paths('mayflies')).toEqual(['/gone/ephemeral.txt']);
    const deleted = await graphql(gw.url, 'mutation { deleteEntry(path: "/gone") { deletedFiles } }', {}, { apiKey: org.apiKey });
    expect(deleted.body.errors).toBeUndefined();
    expect(await paths('mayflies')).toEqual([]);
    expect(await paths('ephemeral')).toEqual([]);
    expect((await search('mayflies')).totalCount).toBe(0);
    const trash = await graphql(gw.url, '{ trash(first: 50) { edges { node { id originalPath } } } }', {}, { apiKey: org.apiKey });
    const item = trash.body.data.trash.edges.find((e: any) => e.node.originalPath === '/gone');
    const restored = await graphql(
      gw.url,
      'mutation($id: ID!) { restoreEntry(id: $id) { path } }',
      { id: item.node.id },
      { apiKey: org.apiKey },
    );
    expect(restored.body.errors).toBeUndefined();
    expect(await paths('mayflies')).toEqual(['/gone/ephemeral.txt']);
    const forGood = await graphql(
      gw.url,
      'mutation { deleteEntry(path: "/gone/ephemeral.txt", permanent: true) { deletedFiles } }',
      {},
      { apiKey: org.apiKey },
    );
    expect(forGood.body.errors).toBeUndefined();
    expect(await paths('mayflies')).toEqual([]);
  });

  it('reads the text again when an older version is restored', async () => {
    await upload('/versions', 'memo.txt', 'the memo first spoke of manatees');
    await settled('/versions/memo.txt');
    await upload('/versions', 'memo.txt', 'the memo then spoke of narwhals');
    await settled('/versions/memo.txt');
    expect(await paths('manatees')).toEqual([]);
    const versions = await graphql(
      gw.url,
      '{ file(path: "/versions/memo.txt") { versions(first: 10) { edges { node { id current } } } } }',
      {},
      { apiKey: org.apiKey },
    );
    const older = versions.body.data.file.versions.edges.find((e: any) => !e.node.current);
    const restored = await graphql(
      gw.url,
      'mutation($v: ID!) { restoreFileVersion(path: "/versions/memo.txt", versionId: $v) { textStatus } }',
      { v: older.node.id },
      { apiKey: org.apiKey },
    );
    expect(restored.body.errors).toBeUndefined();
    expect(await settled('/versions/memo.txt')).toBe('INDEXED');
    expect(await paths('manatees')).toEqual(['/versions/memo.txt']);
    expect(await paths('narwhals')).toEqual([]);
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const ask = (variables: Record<string, unknown>) => graphql(gw.url, SEARCH, variables, { apiKey: org.apiKey });
    for (const query of ['', '   ', '!!! ??? ---', '\u0000']) {
      const res = await ask({ query });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.argument).toBe('query');
      expect(res.body.errors![0].message).toMatch(/word/);
    }
    const long = await ask({ query: 'a'.repeat(257) });
    expect(errorCode(long)).toBe('BAD_USER_INPUT');
    expect(long.body.errors![0].message).toMatch(/at most 256/);
    const cursor = await ask({ query: 'walrus', after: 'bm90IGEgY3Vyc29y' });
    expect(errorCode(cursor)).toBe('BAD_USER_INPUT');
    expect(cursor.body.errors![0].extensions!.argument).toBe('after');
    const foreignCursor = Buffer.from(JSON.stringify(['entries', true, 'x'])).toString('base64url');
    expect(errorCode(await ask({ query: 'walrus', after: foreignCursor }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await ask({ query: 'walrus', under: 'relative/path' }))).toBe('INVALID_PATH');
    expect(errorCode(await ask({ query: 'walrus', first: 101 }))).toBe('BAD_USER_INPUT');
    // Quotes, backslashes and tsquery operators are separators, never syntax.
    expect((await search("walrus' & !(x | y):* \\")).totalCount).toBe(0);
    expect((await search('walrus & | ! ( ) :*')).totalCount).toBe(7);
    const noKey = await graphql(gw.url, SEARCH, { query: 'walrus' });
    expect(errorCode(noKey)).toBe('UNAUTHENTICATED');
  });
});
