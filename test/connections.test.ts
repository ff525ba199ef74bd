import { pageOf, withTotal } from '../src/db/page';
import { checkArgumentRules } from '../src/graphql/argument-rules';
import { connectionOf } from '../src/graphql/connection';
import { PageArgs } from '../src/graphql/page-args';
import { errorCode, graphql, GraphQLResponse } from './support/http';
import { startTestGateway, TestGateway } from './support/gateway';
import { uploadFile } from './support/storage';

/** Every connection of the schema, as `{ query, data }`: `$first`/`$after` and the selection are filled in. */
const CONNECTIONS: Array<{ field: string; type: string; query: (selection: string) => string; of: (data: any) => any }> = [
  {
    field: 'Folder.children',
    type: 'EntryConnection',
    query: (selection) =>
      `query($first: Int, $after: String) { folder(path: "/docs") { children(first: $first, after: $after) { ${selection} } } }`,
    of: (data) => data.folder.children,
  },
  {
    field: 'File.versions',
    type: 'FileVersionConnection',
    query: (selection) =>
      `query($first: Int, $after: String) { file(path: "/docs/one.txt") { versions(first: $first, after: $after) { ${selection} } } }`,
    of: (data) => data.file.versions,
  },
  {
    field: 'Query.trash',
    type: 'TrashConnection',
    query: (selection) => `query($first: Int, $after: String) { trash(first: $first, after: $after) { ${selection} } }`,
    of: (data) => data.trash,
  },
  {
    field: 'Query.workflows',
    type: 'WorkflowConnection',
    query: (selection) => `query($first: Int, $after: String) { workflows(first: $first, after: $after) { ${selection} } }`,
    of: (data) => data.workflows,
  },
  {
    field: 'Query.teammates',
    type: 'TeammateConnection',
    query: (selection) => `query($first: Int, $after: String) { teammates(first: $first, after: $after) { ${selection} } }`,
    of: (data) => data.teammates,
  },
  {
    field: 'Teammate.requestLogs',
    type: 'RequestLogConnection',
    query: (selection) =>
      `query($id: ID!, $first: Int, $after: String) { teammate(id: $id) { requestLogs(first: $first, after: $after) { ${selection} } } }`,
    of: (data) => data.teammate.requestLogs,
  },
];

const TRIGGER = `mutation($id: ID!, $key: String, $wait: Int) { triggerWorkflow(workflowId: $id, idempotencyKey: $key, waitSeconds: $wait) { runId } }`;
const CALL = `mutation($id: ID!, $key: String, $wait: Int) { callTeammate(teammateId: $id, input: {}, idempotencyKey: $key, waitSeconds: $wait) { runId } }`;

describe('connections: one generic type, one count policy, page arguments as rules', () => {
  let gw: TestGateway;
  let org: { orgId: string; apiKey: string; keyId: string };
  let workflowId: string;
  let teammateId: string;
  let fileId: string;

  const ask = (query: string, variables: Record<string, unknown> = {}) =>
    graphql(gw.url, query, { id: teammateId, ...variables }, { apiKey: org.apiKey });
  const runCount = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0].n as number;
  const refusal = (res: GraphQLResponse) => ({
    code: errorCode(res),
    argument: res.body.errors?.[0]?.extensions?.argument,
    message: res.body.errors?.[0]?.message,
  });

  /** What `work` answers, and the SQL the gateway sent meanwhile. */
  async function withStatements<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
    const statements: string[] = [];
    const logger = gw.db.logger;
    const original = logger.logQuery.bind(logger);
    logger.logQuery = (query, parameters, runner) => {
      statements.push(query);
      return original(query, parameters, runner);
    };
    try {
      return { result: await work(), statements };
    } finally {
      logger.logQuery = original;
    }
  }
  // A statement that counts: count(*) of the list, or the page with its total (withTotal's `c.total`,
  // also when the total is read from kept counts such as request_log_counts rather than counted).
  const counts = (statements: string[]) => statements.filter((sql) => /count\(\*\)|\bc\.total\b/i.test(sql));

  beforeAll(async () => {
    // No worker: started runs stay QUEUED, which is all these tests need.
    gw = await startTestGateway({ background: false });
    org = await gw.createOrg('Connections Org');
    for (const name of ['b', 'a']) await gw.services.storage.changes.createFolder(org.orgId, `/docs/${name}`);
    for (const name of ['one.txt', 'two.txt', 'three.txt']) {
      const res = await uploadFile(gw.url, org.apiKey, '/docs', name, `bytes of ${name}`);
      fileId = res.body.data.uploadFile.id;
    }
    // one.txt has 3 versions; 3 items in the trash (a file, and a folder holding another).
    for (const text of ['again', 'and again']) await uploadFile(gw.url, org.apiKey, '/docs', 'one.txt', text);
    for (const path of ['/old/x.txt', '/old/y.txt', '/gone/z.txt']) {
      await uploadFile(gw.url, org.apiKey, path.slice(0, path.lastIndexOf('/')), path.slice(path.lastIndexOf('/') + 1), path);
    }
    for (const path of ['/old/x.txt', '/old', '/gone']) await gw.services.storage.trash.deleteEntry(org.orgId, path);
    for (const name of ['first', 'second', 'third']) {
      const created = await gw.services.workflows.createWorkflow(org.orgId, {
        name,
        startStep: 's',
        steps: { s: { type: 'transform', output: 1 } },
      });
      workflowId = created.workflow.id;
    }
    for (const name of ['Ann', 'Bob']) {
      teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name, workflowId, channels: ['API'] })).id;
    }
    for (let i = 0; i < 4; i++) expect((await ask(CALL)).body.errors).toBeUndefined();
    // Warm-up: the key's last-use write and the folder cache would otherwise add statements to the first request only.
    for (const { query } of CONNECTIONS) await ask(query('totalCount'));
  });

  afterAll(async () => {
    await gw?.close();
  });

  const totals: Record<string, number> = {
    'File.versions': 3,
    'Query.trash': 3,
    'Folder.children': 5,
    'Query.workflows': 3,
    'Query.teammates': 2,
    'Teammate.requestLogs': 4,
  };

  it.each(CONNECTIONS)(
    '$field counts only when totalCount is selected, in the statement of the page itself',
    async ({ field, type, query, of }) => {
      const page = 'edges { cursor node { id } } pageInfo { hasNextPage endCursor }';
      const uncounted = await withStatements(() => ask(query(page), { first: 2 }));
      expect(uncounted.result.body.errors).toBeUndefined();
      expect(of(uncounted.result.body.data).edges).toHaveLength(2);
      expect(counts(uncounted.statements)).toEqual([]);

      const counted = await withStatements(() => ask(query(`totalCount ${page}`), { first: 2 }));
      expect(counted.result.body.errors).toBeUndefined();
      expect(of(counted.result.body.data)).toEqual({ ...of(uncounted.result.body.data), totalCount: totals[field] });
      // The count rides in the page's statement: not one statement more than without it.
      expect(counts(counted.statements)).toHaveLength(1);
      expect(counted.statements).toHaveLength(uncounted.statements.length);

      // Selected through a fragment, under an alias, it is counted too.
      const fragment = await withStatements(() => ask(query(`... on ${type} { n: totalCount }`)));
      expect(fragment.result.body.errors).toBeUndefined();
      expect(of(fragment.result.body.data)).toEqual({ n: totals[field] });
      expect(counts(fragment.statements)).toHaveLength(1);
    },
  );

  it.each(CONNECTIONS)('$field answers first: 0 with no edges but the count and whether there is a page', async ({ field, query, of }) => {
    const res = await ask(query('totalCount pageInfo { hasNextPage endCursor } edges { cursor }'), { first: 0 });
    expect(res.body.errors).toBeUndefined();
    expect(of(res.body.data)).toEqual({ totalCount: totals[field], pageInfo: { hasNextPage: true, endCursor: null }, edges: [] });
  });

  it.each(CONNECTIONS)("$field pages with its own cursors to the end, and refuses another list's cursor", async ({ field, query, of }) => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const res = await ask(query('pageInfo { hasNextPage endCursor } edges { cursor node { id } }'), { first: 2, after });
      expect(res.body).not.toHaveProperty('errors');
      const connection = of(res.body.data);
      seen.push(...connection.edges.map((e: any) => e.node.id));
      if (connection.edges.length) expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1).cursor);
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(totals[field]);
    expect(new Set(seen).size).toBe(totals[field]);

    // A cursor of each other connection is refused here.
    for (const other of CONNECTIONS.filter((c) => c.field !== field)) {
      const cursor = other.of((await ask(other.query('edges { cursor }'), { first: 1 })).body.data).edges[0].cursor;
      expect(refusal(await ask(query('totalCount'), { after: cursor }))).toEqual({
        code: 'BAD_USER_INPUT',
        argument: 'after',
        message: 'after is not a cursor of this list',
      });
    }
  });

  it.each(CONNECTIONS)('$field refuses first outside 0 to 100 with BAD_USER_INPUT naming first', async ({ query }) => {
    for (const first of [101, -1, 2147483647]) {
      expect(refusal(await ask(query('totalCount'), { first }))).toEqual({
        code: 'BAD_USER_INPUT',
        argument: 'first',
        message: 'first must be between 0 and 100',
      });
    }
    const literal = await ask(query('totalCount').replace('$first: Int, ', '').replace('first: $first', 'first: 101'));
    expect(refusal(literal)).toEqual({ code: 'BAD_USER_INPUT', argument: 'first', message: 'first must be between 0 and 100' });
    expect((await ask(query('edges { cursor }'), { first: 100 })).body.errors).toBeUndefined();
  });

  it('refuses expiresIn outside 1 to 604800 seconds with BAD_USER_INPUT naming it', async () => {
    const url = `query($id: ID!, $e: Int) { node(id: $id) { ... on File { downloadUrl(expiresIn: $e) } } }`;
    for (const e of [0, -5, 604801]) {
      expect(refusal(await ask(url, { id: fileId, e }))).toEqual({
        code: 'BAD_USER_INPUT',
        argument: 'expiresIn',
        message: 'expiresIn must be between 1 and 604800 seconds',
      });
    }
    for (const e of [1, 604800, null]) {
      const res = await ask(url, { id: fileId, e });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.node.downloadUrl).toMatch(/^http/);
    }
  });

  it('refuses an idempotency key of 0 or over 255 characters and waitSeconds over 30, naming them, and starts no run', async () => {
    const before = await runCount();
    for (const [mutation, id] of [
      [TRIGGER, workflowId],
      [CALL, teammateId],
    ]) {
      for (const key of ['', 'k'.repeat(256)]) {
        expect(refusal(await ask(mutation, { id, key }))).toEqual({
          code: 'BAD_USER_INPUT',
          argument: 'idempotencyKey',
          message: 'idempotencyKey must be 1 to 255 characters',
        });
      }
      // Length is told before NUL, as it always was.
      expect(refusal(await ask(mutation, { id, key: `\u0000${'k'.repeat(255)}` })).message).toBe(
        'idempotencyKey must be 1 to 255 characters',
      );
      expect(refusal(await ask(mutation, { id, wait: 31 }))).toEqual({
        code: 'BAD_USER_INPUT',
        argument: 'waitSeconds',
        message: 'waitSeconds must be a whole number of seconds from 0 to 30; got 31',
      });
      // Counted in UTF-16 code units, as always: an emoji is two.
      expect(refusal(await ask(mutation, { id, key: '😀'.repeat(128) })).argument).toBe('idempotencyKey');
    }
    expect(await runCount()).toBe(before);
    const started = await ask(TRIGGER, { id: workflowId, key: `${'😀'.repeat(127)}k` });
    expect(started.body.errors).toBeUndefined();
    expect(await runCount()).toBe(before + 1);
  });
});

describe('connections without a server', () => {
  it('checkArgumentRules refuses a PageArgs rule as BAD_USER_INPUT naming the argument, and passes omitted values', () => {
    const args = (value: object) => Object.assign(new PageArgs(), value);
    expect(() => checkArgumentRules(args({ first: 101 }))).toThrow(
      expect.objectContaining({ message: 'first must be between 0 and 100', code: 'BAD_USER_INPUT', details: { argument: 'first' } }),
    );
    expect(() => checkArgumentRules(args({ first: 1.5 }))).toThrow('first must be between 0 and 100');
    for (const ok of [{}, { first: null }, { first: 0 }, { first: 100, after: 'x' }])
      expect(() => checkArgumentRules(args(ok))).not.toThrow();
    for (const scalar of [null, undefined, 7, 'text', [1, 2]]) expect(() => checkArgumentRules(scalar)).not.toThrow();
  });

  it('pageOf reads first + 1 rows as a page and whether more follow, and the count row of an empty counted page', () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, total: 9 }));
    expect(pageOf(rows(3), { first: 2, count: false })).toEqual({ rows: rows(2), hasNextPage: true });
    expect(pageOf(rows(2), { first: 2, count: true })).toEqual({ rows: rows(2), hasNextPage: false, count: 9 });
    expect(pageOf([{ id: null, total: 4 }], { first: 0, count: true })).toEqual({ rows: [], hasNextPage: false, count: 4 });
    expect(withTotal('SELECT count(*) AS total FROM t', 'SELECT id FROM t LIMIT $1', 'p.id')).toBe(
      'SELECT c.total, p.* FROM (SELECT count(*) AS total FROM t) AS c LEFT JOIN LATERAL (SELECT id FROM t LIMIT $1) AS p ON true ORDER BY p.id',
    );
  });

  it('connectionOf encodes a cursor only when it is read, and refuses totalCount it was not given', () => {
    const encoded: string[] = [];
    const connection = connectionOf({ rows: [{ id: 'a' }, { id: 'b' }], hasNextPage: true }, (node) => {
      encoded.push(node.id);
      return `c-${node.id}`;
    });
    expect(encoded).toEqual(['b']); // pageInfo.endCursor
    expect(connection.pageInfo).toEqual({ hasNextPage: true, endCursor: 'c-b' });
    expect(connection.edges.map((e) => e.cursor)).toEqual(['c-a', 'c-b']);
    expect(() => connection.totalCount).toThrow('not counted');
    expect(connectionOf({ rows: [], hasNextPage: false, count: 0 }, () => 'never').totalCount).toBe(0);
  });
});
