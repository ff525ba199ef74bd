import { STACK_OR_SQL } from './support/leaks';
import { createHash } from 'node:crypto';
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  GraphQLArgument,
  GraphQLField,
  GraphQLInputType,
  GraphQLNamedType,
  GraphQLObjectType,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  IntrospectionQuery,
} from 'graphql';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { subscribeOnce } from './support/graphql-ws';
import { uploadFile } from './support/storage';

/**
 * Hostile input built from the schema itself. The schema is read by introspection from the running
 * server; for every argument of every root field, values chosen by the argument's type (NUL, lone
 * surrogates, 70 KB strings, traversal, SQL, malformed and foreign ids, extreme integers, deep and
 * prototype-polluting JSON, wrong types) are sent with valid values for the other arguments, over
 * JSON and, for fields that take an Upload, as multipart requests with hostile files too. Fixtures
 * are real: a stored file, a startable workflow, a teammate with the API channel. No answer may be
 * a 5xx, an INTERNAL_SERVER_ERROR, or hold a stack trace or SQL, and the fixture file's bytes must
 * be unchanged at the end. A field or argument added later is fuzzed without a line of this file;
 * so is a Subscription root, over graphql-ws.
 */

const UUID_ZERO = '00000000-0000-0000-0000-000000000000';
const FIXTURE_BYTES = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) % 256));
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

interface Fixtures {
  apiKey: string;
  fileId: string;
  folderId: string;
  workflowId: string;
  teammateId: string;
  runId: string;
  conversationId: string;
  /** Ids of another organization, which must read as not found. */
  foreign: { fileId: string; workflowId: string; teammateId: string; runId: string; conversationId: string };
}

/** JSON text sent as it is: nesting too deep for this process's own JSON.stringify. */
class RawJson {
  constructor(readonly text: string) {}
}

const deep = (levels: number) => new RawJson(`${'['.repeat(levels)}1${']'.repeat(levels)}`);

/** JSON.stringify, with RawJson values put in as their text. */
function toJson(value: unknown): string {
  const raw: string[] = [];
  const text = JSON.stringify(value, (_key, v) => (v instanceof RawJson ? `\u0000raw${raw.push(v.text) - 1}\u0000` : v));
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raw[Number(i)]);
}

/** Hostile strings for String and ID arguments (and custom string scalars). */
function hostileStrings(f: Fixtures): unknown[] {
  return [
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '\ud83d\ude00\ud83d',
    '\u202e\u0007\u001b[31m',
    'a'.repeat(70 * 1024),
    '😀'.repeat(18 * 1024),
    'é'.repeat(36 * 1024),
    '../../etc/passwd',
    '/../../etc/passwd',
    '/a/../../b',
    '/fuzz/./x',
    '..\\..\\windows\\win.ini',
    '/%2e%2e/%2f',
    '/fuzz//x',
    '/' + 'a/'.repeat(600),
    "' OR '1'='1",
    "'; DROP TABLE organizations; --",
    '$1',
    "\\'; SELECT pg_sleep(10); --",
    '{{payload}}',
    '${process.env}',
    'not-a-uuid',
    UUID_ZERO,
    UUID_ZERO.toUpperCase(),
    `{${f.workflowId}}`,
    `${f.workflowId}x`,
    f.workflowId.toUpperCase(),
    `${f.fileId} `,
    f.foreign.fileId,
    f.foreign.workflowId,
    f.foreign.teammateId,
    f.foreign.runId,
    f.foreign.conversationId,
    f.fileId,
    f.folderId,
    f.workflowId,
    f.teammateId,
    f.runId,
    'alloy_sk_',
    'eyJhbGciOiJub25lIn0.e30.',
    '__proto__',
    'constructor',
    'prototype',
    'null',
    'undefined',
    'NaN',
    // wrong types
    0,
    -1,
    1.5,
    true,
    [],
    ['a'],
    {},
    { a: 1 },
  ];
}

const hostileInts: unknown[] = [
  0,
  -1,
  1,
  100,
  101,
  2147483647,
  -2147483648,
  2147483648,
  -2147483649,
  Number.MAX_SAFE_INTEGER + 2,
  1e308,
  -0,
  1.5,
  '1',
  'ten',
  true,
  [],
  {},
  [1],
];

function hostileJson(f: Fixtures): unknown[] {
  return [
    null,
    0,
    '',
    '\u0000',
    'a\u0000b',
    { 'k\u0000': 'v\u0000' },
    '\ud800',
    { '\udc00': 1 },
    ['ok', '\ud83d'],
    JSON.parse('{"__proto__":{"polluted":true}}'),
    { constructor: { prototype: { polluted: true } } },
    JSON.parse('{"a":{"__proto__":{"isAdmin":true}}}'),
    deep(99),
    deep(101),
    deep(5000),
    deep(100_000),
    { text: 'x'.repeat(1024 * 1024) },
    Array.from({ length: 50_000 }, (_, i) => i),
    { text: "'; DROP TABLE workflow_runs; --" },
    { text: '{{steps.x.output}}' },
    1e308,
    -1e-308,
    Number.MAX_SAFE_INTEGER + 2,
    [f.foreign.workflowId],
    { nested: { b: 1, a: 2 } },
    'a'.repeat(70 * 1024),
  ];
}

const hostileDates: unknown[] = [
  '',
  'x',
  '0000-00-00T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '-271821-04-20T00:00:00Z',
  '+275760-09-13T00:00:01Z',
  '1970-01-01T00:00:00Z',
  '2024-01-01',
  '2024-01-01T00:00:00',
  '2024-01-01T25:00:00Z',
  1e20,
  0,
  -1,
  '\u0000',
  '\ud800',
  {},
  [],
];

const hostileBooleans: unknown[] = ['true', 1, 0, null, {}, []];

/** Values for one argument type: hostile ones, chosen by its type. */
function hostileValues(type: GraphQLInputType, f: Fixtures, depth = 0): unknown[] {
  if (isNonNullType(type)) return [null, ...hostileValues(type.ofType, f, depth)];
  if (isListType(type)) {
    const inner = hostileValues(type.ofType, f, depth + 1).slice(0, 12);
    return [[], [null], ...inner.map((v) => [v]), Array.from({ length: 10_000 }, () => inner[1] ?? 'x'), 'not a list'];
  }
  const named = getNamedType(type);
  if (isEnumType(named)) return ['NOPE', named.getValues()[0].name.toLowerCase(), 1, '', '\u0000', `${named.getValues()[0].name} `, null];
  if (isInputObjectType(named)) {
    if (depth > 2) return [{}];
    const valid = validValue(named, f, 'input');
    const variants: unknown[] = [{}, { nope: 1 }, 'x', JSON.parse('{"__proto__":{"polluted":true}}')];
    for (const [name, field] of Object.entries(named.getFields())) {
      for (const value of hostileValues(field.type, f, depth + 1).slice(0, 15)) variants.push({ ...(valid as object), [name]: value });
    }
    return variants;
  }
  switch (named.name) {
    case 'Int':
    case 'Float':
      return hostileInts;
    case 'Boolean':
      return hostileBooleans;
    case 'JSON':
      return hostileJson(f);
    case 'DateTime':
      return hostileDates;
    case 'Upload':
      return [null, 'file', {}, 1];
    default:
      return hostileStrings(f);
  }
}

/**
 * A valid value for an argument, from its name and type, aimed away from the fixture file: paths
 * are under /fuzz, so that mutations run for real without touching what the test checks at the end.
 */
function validValue(type: GraphQLInputType, f: Fixtures, argument: string, field = ''): unknown {
  if (isNonNullType(type)) return validValue(type.ofType as GraphQLInputType, f, argument, field);
  if (isListType(type)) return [validValue(type.ofType as GraphQLInputType, f, argument, field)];
  const named = getNamedType(type);
  if (isEnumType(named)) return named.getValues()[0].name;
  if (isInputObjectType(named)) {
    return Object.fromEntries(Object.entries(named.getFields()).map(([name, inner]) => [name, validValue(inner.type, f, name, field)]));
  }
  const name = argument.toLowerCase();
  switch (named.name) {
    case 'Int':
    case 'Float':
      return /wait/.test(name) ? 0 : /expires/.test(name) ? 60 : 5;
    case 'Boolean':
      return true;
    case 'JSON':
      return { text: 'fuzz', n: 1 };
    case 'DateTime':
      return new Date(Date.now() - 3600_000).toISOString();
    case 'Upload':
      return null;
    case 'ID': {
      const target = `${field}.${argument}`.toLowerCase();
      if (/run/.test(target)) return f.runId;
      if (/conversation/.test(target)) return f.conversationId;
      if (/teammate/.test(target)) return f.teammateId;
      if (/workflow/.test(target)) return f.workflowId;
      if (/folder/.test(target)) return f.folderId;
      return f.fileId;
    }
    default:
      if (name === 'to' || name === 'folder') return '/fuzz';
      if (/path/.test(name)) return '/fuzz/entry';
      if (/name/.test(name)) return 'fuzzed.txt';
      return 'fuzz';
  }
}

/** A selection for a field's type: every field without required arguments, one level deep, then __typename. */
function selection(type: GraphQLNamedType, depth = 0): string {
  if (isLeafType(type)) return '';
  if (!isObjectType(type) || depth > 1) return '{ __typename }';
  const fields = Object.values((type as GraphQLObjectType).getFields())
    .filter((field) => field.args.every((arg) => !isNonNullType(arg.type)))
    .map((field) => {
      const inner = getNamedType(field.type);
      return isLeafType(inner) ? field.name : `${field.name} ${selection(inner, depth + 1)}`;
    });
  return `{ __typename ${fields.join(' ')} }`;
}

type Root = 'query' | 'mutation' | 'subscription';

interface FuzzCase {
  label: string;
  root: Root;
  field: GraphQLField<unknown, unknown>;
  variables: Record<string, unknown>;
  /** An argument given as a literal in the document instead of a variable. */
  literal?: { name: string; text: string };
}

function document(c: FuzzCase): string {
  const args = c.field.args.filter((arg) => arg.name !== c.literal?.name);
  const definitions = args.map((arg) => `$${arg.name}: ${arg.type.toString()}`).join(', ');
  const uses = [...args.map((arg) => `${arg.name}: $${arg.name}`), ...(c.literal ? [`${c.literal.name}: ${c.literal.text}`] : [])].join(
    ', ',
  );
  return `${c.root} Fuzz${definitions ? `(${definitions})` : ''} { ${c.field.name}${uses ? `(${uses})` : ''} ${selection(getNamedType(c.field.type))} }`;
}

/** Every root field's arguments, each with every hostile value of its type, the other arguments valid. */
function cases(schema: GraphQLSchema, f: Fixtures): { cases: FuzzCase[]; covered: Set<string> } {
  const all: FuzzCase[] = [];
  const covered = new Set<string>();
  const roots: Array<[Root, GraphQLObjectType | null | undefined]> = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ];
  for (const [root, type] of roots) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      if (field.name.startsWith('__')) continue;
      // Optional strings (cursors, idempotency keys) are left out: any made-up value would be refused.
      const valid = Object.fromEntries(
        field.args.map((arg) => [
          arg.name,
          !isNonNullType(arg.type) && getNamedType(arg.type).name === 'String' ? null : validValue(arg.type, f, arg.name, field.name),
        ]),
      );
      all.push({ label: `${root} ${field.name} (all valid)`, root, field, variables: valid });
      for (const arg of field.args) {
        covered.add(`${type!.name}.${field.name}(${arg.name})`);
        hostileValues(arg.type, f).forEach((value, i) => {
          all.push({ label: `${root} ${field.name}(${arg.name}) #${i}`, root, field, variables: { ...valid, [arg.name]: value } });
        });
        if (isScalarType(getNamedType(arg.type)) && ['String', 'ID'].includes(getNamedType(arg.type).name)) {
          for (const value of ['\u0000', 'a\\u0000', '"', '\\', '\ud800', '../x', "' OR 1=1 --"]) {
            all.push({
              label: `${root} ${field.name}(${arg.name}: literal ${JSON.stringify(value)})`,
              root,
              field,
              variables: valid,
              literal: { name: arg.name, text: JSON.stringify(value) },
            });
          }
        }
      }
    }
  }
  return { cases: all, covered };
}

/** Hostile file parts for multipart requests, as raw header text and content. */
const HOSTILE_FILES: Array<{ disposition: string; content: string }> = [
  { disposition: 'filename="ok.txt"', content: 'ok' },
  { disposition: 'filename="a\u0000b.txt"', content: 'x' },
  { disposition: 'filename="a\u0007b\u001f.txt"', content: 'x' },
  { disposition: 'filename="a\nb.txt"', content: 'x' },
  { disposition: 'filename="\\"', content: 'x' },
  { disposition: 'filename=""', content: 'x' },
  { disposition: 'filename="../../etc/passwd"', content: 'x' },
  { disposition: 'filename=".."', content: 'x' },
  { disposition: 'filename="/"', content: 'x' },
  { disposition: `filename="${'n'.repeat(70 * 1024)}"`, content: 'x' },
  { disposition: "filename*=UTF-8''%00%0A", content: 'x' },
  { disposition: "filename*=UTF-8''%ED%A0%80", content: 'x' },
  { disposition: "filename*=UTF-8''%E2%80%AE.txt", content: 'x' },
  { disposition: 'filename="keep.bin"', content: 'overwrite?' },
  { disposition: 'filename="empty.bin"', content: '' },
];

function multipartBody(
  c: FuzzCase,
  uploadArg: string,
  file: { disposition: string; content: string } | null,
): { body: Buffer; boundary: string } {
  const boundary = `fuzz${Math.random().toString(36).slice(2)}`;
  const operations = toJson({ query: document(c), variables: { ...c.variables, [uploadArg]: null } });
  let text =
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n${JSON.stringify({ 0: [`variables.${uploadArg}`] })}\r\n`;
  if (file)
    text += `--${boundary}\r\nContent-Disposition: form-data; name="0"; ${file.disposition}\r\nContent-Type: application/octet-stream\r\n\r\n${file.content}\r\n`;
  text += `--${boundary}--\r\n`;
  // Characters below U+0100 as the bytes they name (raw control characters in headers); the JSON parts are ASCII.
  return { body: Buffer.from(text, 'latin1'), boundary };
}

describe('schema-driven fuzzing of every root field argument', () => {
  // NODE_ENV unset: what `npm start` runs with.
  const { gw, org: mine } = useGatewayWithOrg({ env: { NODE_ENV: '' }, orgName: 'Fuzz fixtures' });
  let f: Fixtures;

  beforeAll(async () => {
    const other = await gw.createOrg('Foreign');
    const fixturesOf = async (org: { orgId: string; apiKey: string }) => {
      const stored = await uploadFile(gw.url, org.apiKey, '/fixtures', 'keep.bin', FIXTURE_BYTES, { select: 'id parent { id }' });
      expect(stored.body.errors).toBeUndefined();
      const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
        name: 'fuzz target',
        startStep: 'shape',
        steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}', all: '{{payload}}' } } },
      });
      const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Fuzzy', workflowId: workflow.id, channels: ['API'] });
      const run = await graphql(
        gw.url,
        'mutation($w: ID!) { triggerWorkflow(workflowId: $w, payload: {text: "seed"}) { runId } }',
        { w: workflow.id },
        { apiKey: org.apiKey },
      );
      const turn = await graphql(
        gw.url,
        'mutation($t: ID!) { callTeammate(teammateId: $t, input: {text: "seed"}, waitSeconds: 10) { conversationId } }',
        { t: teammate.id },
        { apiKey: org.apiKey },
      );
      return {
        conversationId: turn.body.data.callTeammate.conversationId as string,
        fileId: stored.body.data.uploadFile.id as string,
        folderId: stored.body.data.uploadFile.parent.id as string,
        workflowId: workflow.id,
        teammateId: teammate.id,
        runId: run.body.data.triggerWorkflow.runId as string,
      };
    };
    const own = await fixturesOf(mine);
    const foreign = await fixturesOf(other);
    f = { apiKey: mine.apiKey, ...own, foreign };
    await graphql(gw.url, 'mutation { createFolder(path: "/fuzz/entry") { id } }', {}, { apiKey: f.apiKey });
  });

  it('answers every hostile value of every argument, as JSON and as multipart, without a 5xx, an internal error or a leak', async () => {
    const introspection = await graphql<IntrospectionQuery>(gw.url, getIntrospectionQuery());
    expect(introspection.body.errors).toBeUndefined();
    const schema = buildClientSchema(introspection.body.data!);
    const { cases: all, covered } = cases(schema, f);

    // Coverage comes from the schema: every argument of every root field has cases.
    const declared = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
      Object.values(type?.getFields() ?? {}).flatMap((field) =>
        field.args.map((arg: GraphQLArgument) => `${type!.name}.${field.name}(${arg.name})`),
      ),
    );
    expect([...covered].sort()).toEqual([...declared].sort());
    expect(declared.length).toBeGreaterThan(15);

    const problems: string[] = [];
    const outcomes = new Map<string, number>();
    const validAnswers: Record<string, string> = {};
    const check = (label: string, status: number, text: string) => {
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? (status === 200 ? 'data' : `HTTP ${status}`);
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      if (/\(all valid\) \((JSON|multipart, "filename=\\"ok.txt)/.test(label) && !/uploadFile.*JSON/.test(label))
        validAnswers[label] = code;
      if (status >= 500) problems.push(`${label}: HTTP ${status}: ${text.slice(0, 300)}`);
      let body: { errors?: Array<{ extensions?: { code?: string } }> };
      try {
        body = JSON.parse(text);
      } catch {
        problems.push(`${label}: not JSON (HTTP ${status}): ${text.slice(0, 200)}`);
        return;
      }
      if (body.errors?.some((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR'))
        problems.push(`${label}: INTERNAL_SERVER_ERROR: ${text.slice(0, 300)}`);
      const leak = STACK_OR_SQL.find((pattern) => pattern.test(text));
      if (leak) problems.push(`${label}: matches ${leak}: ${text.slice(0, 300)}`);
    };

    const requests: Array<{ label: string; send: () => Promise<Response> }> = [];
    for (const c of all) {
      if (c.root === 'subscription') {
        requests.push({
          label: `${c.label} (graphql-ws)`,
          send: async () => {
            const { text, closeCode } = await subscribeOnce(gw.url, f.apiKey, document(c), c.variables);
            // 1011 is the protocol's "internal error"; 4400 and the like are the client's mistakes.
            return new Response(text, { status: closeCode === 1011 ? 500 : 200 });
          },
        });
        continue;
      }
      const upload = c.field.args.find((arg) => getNamedType(arg.type).name === 'Upload');
      requests.push({
        label: `${c.label} (JSON)`,
        send: () =>
          fetch(`${gw.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'api-key': f.apiKey },
            body: toJson({ query: document(c), variables: c.variables }),
            signal: AbortSignal.timeout(60_000),
          }),
      });
      if (!upload) continue;
      // The same case as a multipart upload with a good file, and the all-valid case with every hostile file.
      const files = c.label.endsWith('(all valid)') ? [...HOSTILE_FILES, null] : [HOSTILE_FILES[0]];
      for (const file of files) {
        requests.push({
          label: `${c.label} (multipart, ${file ? JSON.stringify(file.disposition.slice(0, 40)) : 'no file part'})`,
          send: () => {
            const { body, boundary } = multipartBody(c, upload.name, file);
            return fetch(`${gw.url}/graphql`, {
              method: 'POST',
              headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'api-key': f.apiKey },
              body,
              signal: AbortSignal.timeout(60_000),
            });
          },
        });
      }
    }
    expect(requests.length).toBeGreaterThan(1000);

    // A few at a time, as clients would, without overwhelming two cores.
    for (let i = 0; i < requests.length; i += 6) {
      await Promise.all(
        requests.slice(i, i + 6).map(async ({ label, send }) => {
          try {
            const response = await send();
            check(label, response.status, await response.text());
          } catch (error) {
            problems.push(`${label}: request failed: ${(error as Error).message}`);
          }
        }),
      );
    }
    expect(problems).toEqual([]);
    // The generator itself works: valid arguments get real answers, and hostile ones are refused
    // for what they are (not all for one reason, such as a malformed document). A green run
    // prints nothing: the figures show in a failure's message.
    expect(Object.values(validAnswers).filter((code) => code === 'data').length).toBeGreaterThan(Object.keys(validAnswers).length * 0.7);
    expect(outcomes.get('BAD_USER_INPUT')).toBeGreaterThan(100);

    // Nothing was polluted, the fixtures are intact, and the server still answers.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const content = await fetch(`${gw.url}/files/${f.fileId}/content`, { headers: { 'api-key': f.apiKey } });
    expect(content.status).toBe(200);
    expect(md5(Buffer.from(await content.arrayBuffer()))).toBe(md5(FIXTURE_BYTES));
    const after = await graphql(
      gw.url,
      'query($w: ID!, $t: ID!) { file(path: "/fixtures/keep.bin") { id size md5 } workflow(id: $w) { startable } teammate(id: $t) { channels } }',
      { w: f.workflowId, t: f.teammateId },
      { apiKey: f.apiKey },
    );
    expect(after.body).toEqual({
      data: {
        file: { id: f.fileId, size: FIXTURE_BYTES.length, md5: md5(FIXTURE_BYTES) },
        workflow: { startable: true },
        teammate: { channels: ['API'] },
      },
    });
  }, 900_000);
});
