import { STACK_OR_SQL } from './support/leaks';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';

/**
 * Thousands of generated bad requests against the real server in production mode: none may
 * produce a 5xx, a stack trace or SQL text, and the server must still answer at the end.
 */

// A small seeded PRNG (mulberry32) so that a failing case can be replayed.
function prng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface BadRequest {
  kind: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  path?: string;
}

const ODD_STRINGS = [
  '',
  ' ',
  '/',
  '//',
  '/..',
  '/../etc/passwd',
  '/a/./b',
  '\u0000',
  '/a\u0000b',
  '/\u202e\u0007',
  'no-leading-slash',
  '/' + 'a'.repeat(300),
  '/' + 'é'.repeat(600),
  '/a/'.repeat(400),
  '/%2e%2e/%2f',
  "/'; DROP TABLE organizations; --",
  '/$(rm -rf /)',
  '/\ud800',
  '/CON',
  '/a\\b',
  '/😀/🚀',
  '/__proto__',
  '/constructor/prototype',
];

function generate(random: () => number, apiKey: string): BadRequest[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const int = (max: number) => Math.floor(random() * max);
  const json = { 'content-type': 'application/json', 'api-key': apiKey };
  const requests: BadRequest[] = [];
  const good = JSON.stringify({ query: '{ organization { id name } }' });

  for (let i = 0; i < 400; i++) {
    // Malformed JSON: truncations, random bytes, wrong top-level shapes.
    const variants = [
      good.slice(0, int(good.length)),
      Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))),
      pick([
        '{',
        '[',
        'null',
        '"x"',
        '123',
        'true',
        '{"query":',
        '{"query":null}',
        '{"query":123}',
        '{"query":{}}',
        '{"query":"{ organization { id } }","variables":"x"}',
        '{"query":"{ organization { id } }","variables":[1]}',
        '{"query":"{ organization { id } }","extensions":5}',
        '{"query":"{ organization { id } }","operationName":7}',
        '[{"query":"{ organization { id } }"},{"query":"{ organization { id } }"}]',
        '{"__proto__":{"query":"x"}}',
        '{"constructor":{"prototype":{"query":"x"}}}',
      ]),
      '['.repeat(5000) + ']'.repeat(5000),
    ];
    requests.push({ kind: 'malformed-json', headers: json, body: pick(variants) });
  }
  for (let i = 0; i < 350; i++) {
    // Wrong variable types for the arguments the schema has.
    const value = pick([1, -1, 1.5, 'x', true, null, [], {}, ['a'], { a: 1 }, 'a'.repeat(10_000), 2 ** 53]);
    const query = pick([
      'query($x: Int!) { organization { id } }',
      'query($x: String!) { organization { id } }',
      'query($x: [String!]!) { organization { id } }',
      'query($x: UnknownType) { organization { id } }',
      'query($x: Int = "no") { organization { id } }',
      'query($path: String!) { folder(path: $path) { id } }',
      'query($id: ID!) { node(id: $id) { id } }',
      'mutation($path: String!) { createFolder(path: $path) { id } }',
      'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }',
      'query($first: Int) { teammates(first: $first) { totalCount } }',
    ]);
    requests.push({
      kind: 'variables',
      headers: json,
      body: JSON.stringify({ query, variables: { x: value, path: value, id: value, first: value, payload: value } }),
    });
  }
  for (let i = 0; i < 350; i++) {
    // Odd names and paths, valid or not as GraphQL.
    const path = pick(ODD_STRINGS);
    const query = pick([
      'query($p: String!) { folder(path: $p) { id path children(first: 5) { totalCount } } }',
      'query($p: String!) { file(path: $p) { id size } }',
      'mutation($p: String!) { createFolder(path: $p) { id } }',
      'mutation($p: String!) { renameEntry(path: $p, name: $p) { id } }',
      'mutation($p: String!) { moveEntry(path: $p, to: $p) { id } }',
      'mutation($p: String!) { deleteEntry(path: $p) { deletedFiles } }',
      'query($p: ID!) { node(id: $p) { id } workflow(id: $p) { id } workflowRun(id: $p) { id } teammate(id: $p) { id } }',
    ]);
    requests.push({ kind: 'odd-paths', headers: json, body: JSON.stringify({ query, variables: { p: path } }) });
  }
  for (let i = 0; i < 300; i++) {
    // Deep, wide and aliased queries, huge strings and many directives.
    const n = 50 + int(3000);
    const shapes = [
      `{ ${'__schema { types { fields { type { ofType { '.repeat(1 + int(40))} name ${'} } } } }'.repeat(0)} }`,
      `{ __schema { types { ${'fields { type { ofType { '.repeat(1 + int(30))}name${' } } }'.repeat(1)} } } }`,
      `{ ${Array.from({ length: n }, (_, k) => `a${k}: organization { id }`).join(' ')} }`,
      `{ organization { ${'id '.repeat(n)} } }`,
      `{ organization { name @include(if: true) ${'@skip(if: false) '.repeat(n % 500)} } }`,
      `{ organization(x: "${'A'.repeat(100_000 + int(900_000))}") { id } }`,
      `query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }`,
      `query __schema { __schema { ${'types { interfaces { '.repeat(20)} name ${'} } '.repeat(20)} } }`,
      `fragment __schema on Query { organization { id } } { ...__schema }`,
      `{ ${'{'.repeat(n)} }`,
    ];
    requests.push({ kind: 'complex', headers: json, body: JSON.stringify({ query: pick(shapes) }) });
  }
  for (let i = 0; i < 350; i++) {
    // Broken multipart requests (GraphQL multipart request spec).
    const boundary = `----fuzz${int(1e9)}`;
    const ops = pick([
      '{"query":"mutation($f: Upload!) { uploadFile(folder: \\"/\\", file: $f) { id } }","variables":{"f":null}}',
      '{"query":"mutation($f: Upload!) { uploadFile(folder: \\"/\\", file: $f) { id } }"',
      'not json',
      '[]',
      '{"query":"{ organization { id } }"}',
      '{"__proto__":{"query":"x"}}',
    ]);
    const map = pick([
      '{"0":["variables.f"]}',
      '{"__proto__":["variables.f"]}',
      '{"constructor":["variables.f"]}',
      '{"0":["__proto__.polluted"]}',
      '{"0":["variables.__proto__.x"]}',
      '{"0":["constructor.prototype.x"]}',
      '{"0":["variables.f"],"1":["variables.f"]}',
      '{"0":"variables.f"}',
      '[1,2]',
      'null',
      '{',
      '{"0":[]}',
      '{"9":["variables.f"]}',
    ]);
    const parts = [
      `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${ops}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n${map}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="${pick(['a.txt', '../../x', '', '\u0000', '__proto__'])}"\r\nContent-Type: text/plain\r\n\r\nhello\r\n`,
      `--${boundary}--\r\n`,
    ];
    let body = parts.join('');
    if (random() < 0.4) body = body.slice(0, int(body.length)); // truncated
    if (random() < 0.2) body = parts.reverse().join('');
    requests.push({
      kind: 'multipart',
      headers: { 'api-key': apiKey, 'content-type': `multipart/form-data; boundary=${random() < 0.1 ? 'wrong' : boundary}` },
      body,
    });
  }
  for (let i = 0; i < 60; i++) {
    // Oversized bodies.
    const size = 2 * 1024 * 1024 + int(4 * 1024 * 1024);
    requests.push({
      kind: 'oversized',
      headers: json,
      body: JSON.stringify({ query: '{ organization { id } }', variables: { x: 'x'.repeat(size) } }),
    });
  }
  for (let i = 0; i < 300; i++) {
    // Odd methods, content types, routes and headers.
    const choice = int(8);
    if (choice === 0) requests.push({ kind: 'method', method: pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS']), headers: json, body: good });
    else if (choice === 1)
      requests.push({
        kind: 'content-type',
        headers: {
          'api-key': apiKey,
          'content-type': pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/xml',
            'application/json; charset=utf-16',
            '',
          ]),
        },
        body: good,
      });
    else if (choice === 2)
      requests.push({
        kind: 'get',
        method: 'GET',
        path: `/graphql?query=${encodeURIComponent(pick(['{ organization { id } }', '{', 'mutation { createFolder(path: "/x") { id } }', '%%%']))}&variables=${pick(['', '{', '[]', 'null'])}`,
        headers: { 'api-key': apiKey },
      });
    else if (choice === 3)
      requests.push({
        kind: 'key',
        headers: {
          'content-type': 'application/json',
          'api-key': pick(['alloy_sk_', 'alloy_sk_' + 'f'.repeat(16) + '_' + '\u00e9'.repeat(43), 'x'.repeat(8000), "' OR 1=1 --"]),
        },
        body: good,
      });
    else if (choice === 4)
      requests.push({
        kind: 'files',
        method: 'GET',
        path: `/files/${encodeURIComponent(pick(ODD_STRINGS).toWellFormed())}/content?expires=${pick(['', 'x', '-1', '99999999999999999999'])}&signature=${pick(['', 'zz', '%00'])}`,
        headers: random() < 0.5 ? { 'api-key': apiKey } : {},
      });
    else if (choice === 5)
      requests.push({
        kind: 'range',
        method: 'GET',
        path: `/files/${pick(['00000000-0000-0000-0000-000000000000', 'abc'])}/content`,
        headers: { 'api-key': apiKey, range: pick(['bytes=-', 'bytes=5-1', 'bytes=0-0,1-1', 'items=0-1', 'bytes=99999999999999999999-']) },
      });
    else if (choice === 6)
      requests.push({
        kind: 'unknown-route',
        method: pick(['GET', 'POST']),
        path: pick(['/', '/graphql/x', '/files', '/files//content', '/%', '/graphql/_ruru/../../package.json']),
        headers: json,
        body: undefined,
      });
    else
      requests.push({
        kind: 'operation-name',
        headers: json,
        body: JSON.stringify({
          query: 'query A { organization { id } } query B { organization { name } }',
          operationName: pick([null, 'C', '', 'A B', 7]),
        }),
      });
  }
  return requests;
}

describe('fuzzing the HTTP surface with bad requests', () => {
  const { gw, org } = useGatewayWithOrg({ env: { NODE_ENV: 'production' }, orgName: 'Fuzz' });

  it('answers 2,000+ generated bad requests without a 5xx, stack trace or SQL text', async () => {
    const requests = generate(prng(20261128), org.apiKey);
    expect(requests.length).toBeGreaterThanOrEqual(2000);
    const problems: string[] = [];
    const byKind = new Map<string, number>();
    // A few at a time, as clients would, without overwhelming two cores.
    for (let i = 0; i < requests.length; i += 8) {
      await Promise.all(
        requests.slice(i, i + 8).map(async (request, j) => {
          const index = i + j;
          let status: number;
          let text: string;
          try {
            const response = await fetch(`${gw.url}${request.path ?? '/graphql'}`, {
              method: request.method ?? 'POST',
              headers: request.headers,
              body: request.method === 'GET' ? undefined : request.body,
              signal: AbortSignal.timeout(30_000),
            });
            status = response.status;
            text = await response.text();
          } catch (error) {
            // The server may close a connection on a truncated upload; that is not a 5xx.
            if (request.kind === 'multipart' || request.kind === 'oversized') return;
            problems.push(`#${index} ${request.kind}: request failed: ${(error as Error).message}`);
            return;
          }
          byKind.set(request.kind, (byKind.get(request.kind) ?? 0) + 1);
          if (status >= 500) problems.push(`#${index} ${request.kind}: HTTP ${status}: ${text.slice(0, 300)}`);
          const leak = STACK_OR_SQL.find((pattern) => pattern.test(text));
          if (leak) problems.push(`#${index} ${request.kind}: body matches ${leak}: ${text.slice(0, 300)}`);
        }),
      );
    }
    expect(problems).toEqual([]);
    expect([...byKind.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1900);
    const after = await graphql(gw.url, '{ organization { name } }', {}, { apiKey: org.apiKey });
    expect(after.status).toBe(200);
    expect(after.body.data).toEqual({ organization: { name: 'Fuzz' } });
  }, 300_000);
});
