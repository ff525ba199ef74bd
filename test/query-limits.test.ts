import { buildSchema, getIntrospectionQuery, parse } from 'graphql';
import { ConfigError, loadConfig, QUERY_LIMIT_DEFAULTS } from '../src/config/config';
import { queryCost } from '../src/limits/query-limits';
import { errorCode, graphql, GraphQLResponse, postGraphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';

/** `__type` is not exempt from the depth limit the way `__schema` is, and `ofType` nests freely. */
function typeChain(levels: number): string {
  return `__type(name: "Query") { ${'ofType { '.repeat(levels)}name${' }'.repeat(levels)} }`;
}

/** Fragments that each spread the previous one twice: cost doubles per fragment, text stays small. */
function doublingFragments(count: number): string {
  const fragments = ['fragment F0 on Organization { id name }'];
  for (let i = 1; i <= count; i++) fragments.push(`fragment F${i} on Organization { ...F${i - 1} ...F${i - 1} }`);
  return `query Doubling { organization { ...F${count} } } ${fragments.join(' ')}`;
}

function expectTooComplex(res: GraphQLResponse, limit: string) {
  expect(res.status).toBe(400);
  expect(res.body.errors).toHaveLength(1);
  expect(errorCode(res)).toBe('QUERY_TOO_COMPLEX');
  expect(res.body.errors?.[0].extensions?.limit).toBe(limit);
  expect(res.body.data ?? null).toBeNull();
}

describe('query limits (defaults)', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Limits' });

  it('lets ordinary queries through', async () => {
    const res = await graphql(gw.url, 'query Org { organization { id name } org2: organization { id } }', {}, { apiKey: org.apiKey });
    expect(res.status).toBe(200);
    expect(res.body.data.organization.name).toBe('Limits');
  });

  it.each([
    ['the plain introspection query', {}],
    [
      "GraphiQL's full introspection query",
      {
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
        oneOf: true,
      },
    ],
  ])('answers %s, with and without a key', async (_label, options) => {
    for (const withKey of [false, true]) {
      const res = await graphql(gw.url, getIntrospectionQuery(options), {}, withKey ? { apiKey: org.apiKey } : {});
      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.__schema.queryType.name).toBe('Query');
    }
  });

  it('refuses a query deeper than MAX_QUERY_DEPTH', async () => {
    const ok = await graphql(gw.url, `{ ${typeChain(QUERY_LIMIT_DEFAULTS.maxDepth - 2)} }`, {}, { apiKey: org.apiKey });
    expect(ok.status).toBe(200);
    const res = await graphql(gw.url, `{ ${typeChain(QUERY_LIMIT_DEFAULTS.maxDepth)} }`, {}, { apiKey: org.apiKey });
    expectTooComplex(res, 'depth');
    expect(res.body.errors?.[0].message).toMatch(/depth limit of 10 exceeded/);
  });

  it.each([
    ['a fragment named __schema', `query { ...__schema } fragment __schema on Query { ${typeChain(12)} }`],
    ['an inline fragment', `query { ... on Query { ${typeChain(12)} } }`],
    ['a field aliased __schema', `query { __schema: ${typeChain(12)} }`],
    ['a deep field beside __schema', `query { __schema { queryType { name } } ${typeChain(12)} }`],
    [
      'a fragment spread inside __schema-looking fragments',
      `query { ...__schema } fragment __schema on Query { ...__type } fragment __type on Query { ${typeChain(12)} }`,
    ],
  ])('does not let %s bypass the depth limit', async (_label, query) => {
    for (const headers of [{}, { 'api-key': org.apiKey }] as Array<Record<string, string>>) {
      expectTooComplex(await graphql(gw.url, query, {}, { headers }), 'depth');
    }
  });

  it('bounds the nesting of introspection lists, which the depth limit does not count', async () => {
    const query = '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }';
    for (const headers of [{}, { 'api-key': org.apiKey }] as Array<Record<string, string>>) {
      expectTooComplex(await graphql(gw.url, query, {}, { headers }), 'depth');
    }
  });

  it('refuses more than MAX_ALIASES aliases', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: organization { id }`).join(' ')} }`;
    expect((await graphql(gw.url, aliases(QUERY_LIMIT_DEFAULTS.maxAliases), {}, { apiKey: org.apiKey })).status).toBe(200);
    expectTooComplex(await graphql(gw.url, aliases(QUERY_LIMIT_DEFAULTS.maxAliases + 1), {}, { apiKey: org.apiKey }), 'aliases');
  });

  it('counts aliases hidden in fragments', async () => {
    const fields = Array.from({ length: 8 }, (_, i) => `x${i}: id`).join(' ');
    const query = `{ organization { ...A ...B } } fragment A on Organization { ${fields} } fragment B on Organization { ${fields.replace(/x/g, 'y')} }`;
    expectTooComplex(await graphql(gw.url, query, {}, { apiKey: org.apiKey }), 'aliases');
  });

  it('refuses more than MAX_DIRECTIVES directives', async () => {
    const directives = (n: number) => `{ organization { ${'id @include(if: true) '.repeat(n)}} }`;
    expect((await graphql(gw.url, directives(QUERY_LIMIT_DEFAULTS.maxDirectives), {}, { apiKey: org.apiKey })).status).toBe(200);
    expectTooComplex(await graphql(gw.url, directives(QUERY_LIMIT_DEFAULTS.maxDirectives + 1), {}, { apiKey: org.apiKey }), 'directives');
  });

  it('refuses a document of more than MAX_TOKENS tokens before validating it', async () => {
    // `{ organization { id … } }`: 5 tokens around the ids.
    const res = await graphql(gw.url, `{ organization { ${'id '.repeat(QUERY_LIMIT_DEFAULTS.maxTokens)}} }`, {}, { apiKey: org.apiKey });
    expectTooComplex(res, 'tokens');
    expect(res.body.errors?.[0].message).toBe('Query token limit of 2000 exceeded.');
  });

  it('answers a selection too costly to validate (graphql-js gives up comparing same-named fields) as too complex', async () => {
    const res = await graphql(
      gw.url,
      `{ organization { ${'id '.repeat(QUERY_LIMIT_DEFAULTS.maxTokens - 5)}} }`,
      {},
      { apiKey: org.apiKey },
    );
    expectTooComplex(res, 'validation');
  });

  it('refuses a query whose cost is over MAX_QUERY_COST', async () => {
    // 2 fields × 2^11 = 4096 (+1 for organization) passes; 2^12 does not.
    expect((await graphql(gw.url, doublingFragments(11), {}, { apiKey: org.apiKey })).status).toBe(200);
    const res = await graphql(gw.url, doublingFragments(12), {}, { apiKey: org.apiKey });
    expectTooComplex(res, 'cost');
    expect(res.body.errors?.[0].message).toMatch(/cost limit of 5000 exceeded, found 8193/);
  });

  it('refuses an exponential fragment bomb without walking it', async () => {
    const res = await graphql(gw.url, doublingFragments(40), {}, { apiKey: org.apiKey });
    expectTooComplex(res, 'cost');
    // The server still answers.
    expect((await graphql(gw.url, '{ organization { id } }', {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('applies limits to requests without a key too (the 400 comes before any 401)', async () => {
    const res = await graphql(gw.url, `{ ${typeChain(12)} }`);
    expectTooComplex(res, 'depth');
  });

  it('keeps array batching off: a JSON array body is a 400, not a 5xx', async () => {
    const body = JSON.stringify([{ query: '{ organization { id } }' }, { query: '{ organization { name } }' }]);
    const response = await postGraphql(gw.url, body, { apiKey: org.apiKey, contentType: 'application/json' });
    expect(response.status).toBe(400);
    const answer = response.body as any;
    expect(answer.errors[0].message).toMatch(/batching/i);
    expect(answer.data).toBeUndefined();
  });

  it('caps JSON bodies: an oversized one is a 413 with a JSON error', async () => {
    const padding = 'x'.repeat(gw.config.maxJsonBodyBytes + 1);
    const response = await postGraphql(gw.url, JSON.stringify({ query: '{ organization { id } }', variables: { padding } }), {
      apiKey: org.apiKey,
      contentType: 'application/json',
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    const body = response.body as any;
    expect(body.errors[0].message).toMatch(/too large/);
    expect((await graphql(gw.url, '{ organization { id } }', {}, { apiKey: org.apiKey })).status).toBe(200);
  });
});

describe('query limits from the environment', () => {
  const { gw, org } = useGatewayWithOrg({
    background: false,
    env: {
      MAX_QUERY_DEPTH: '3',
      MAX_QUERY_COST: '5',
      MAX_ALIASES: '1',
      MAX_TOKENS: '30',
      MAX_DIRECTIVES: '1',
      MAX_JSON_BODY_BYTES: '2048',
    },
  });

  it.each([
    ['depth', `{ ${typeChain(2)} }`],
    ['cost', '{ organization { id name id name id name } }'],
    ['aliases', '{ a: organization { id } b: organization { id } }'],
    ['directives', '{ organization { id @skip(if: false) name @skip(if: false) } }'],
    ['tokens', `{ organization { ${'id '.repeat(26)}} }`],
  ])('applies the configured %s limit', async (limit, query) => {
    expectTooComplex(await graphql(gw.url, query, {}, { apiKey: org.apiKey }), limit);
    expect((await graphql(gw.url, '{ organization { id } }', {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('lets a document of exactly MAX_TOKENS tokens through the token limit', async () => {
    // 30 tokens: the query is then refused for its cost, which comes after parsing.
    const res = await graphql(gw.url, `{ organization { ${'id '.repeat(25)}} }`, {}, { apiKey: org.apiKey });
    expectTooComplex(res, 'cost');
  });

  it('applies the configured body cap', async () => {
    const response = await postGraphql(
      gw.url,
      JSON.stringify({ query: '{ organization { id } }', variables: { padding: 'x'.repeat(3000) } }),
      { apiKey: org.apiKey, contentType: 'application/json' },
    );
    expect(response.status).toBe(413);
  });

  it('refuses malformed limits at start-up, naming the variable', () => {
    for (const name of ['MAX_QUERY_DEPTH', 'MAX_QUERY_COST', 'MAX_ALIASES', 'MAX_TOKENS', 'MAX_DIRECTIVES', 'MAX_JSON_BODY_BYTES']) {
      expect(() => loadConfig({ [name]: 'lots' })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: 'lots' })).toThrow(new RegExp(`^Invalid ${name}:`));
    }
    expect(() => loadConfig({ MAX_QUERY_DEPTH: '0' })).toThrow(/Invalid MAX_QUERY_DEPTH/);
  });
});

describe('query cost', () => {
  const schema = buildSchema(`
    type Query { folder(path: String!): Folder }
    type Folder { name: String! children(first: Int, after: String): EntryConnection! }
    type EntryConnection { edges: [Edge!]! totalCount: Int! }
    type Edge { cursor: String! node: Folder! }
  `);
  const cost = (query: string, variables: Record<string, unknown> = {}) =>
    queryCost(schema, parse(query), variables, undefined, QUERY_LIMIT_DEFAULTS.maxCost);

  it('weights a connection by first, literal or variable, default 20, at most 100', () => {
    const list = (first: string) => `query($n: Int) { folder(path: "/") { children${first} { edges { node { name } } } } }`;
    // folder 1 + children (1 + first × (edges 1 + node 1 + name 1))
    expect(cost(list('(first: 5)'))).toBe(1 + 1 + 5 * 3);
    expect(cost(list('(first: $n)'), { n: 50 })).toBe(1 + 1 + 50 * 3);
    expect(cost(list(''))).toBe(1 + 1 + 20 * 3);
    expect(cost(list('(first: $n)'), { n: 100000 })).toBe(1 + 1 + 100 * 3);
  });

  it('multiplies nested connections', () => {
    const nested = '{ folder(path: "/") { children(first: 100) { edges { node { children(first: 100) { totalCount } } } } } }';
    expect(cost(nested)).toBe(1 + 1 + 100 * (1 + 1 + (1 + 100 * 1)));
  });

  it('leaves variables of the wrong type to execution (null, not a guess)', () => {
    expect(cost('query($n: Int) { folder(path: "/") { children(first: $n) { totalCount } } }', { n: 'many' })).toBeNull();
  });
});
