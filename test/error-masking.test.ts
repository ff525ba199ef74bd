import { GraphQLError } from 'graphql';
import { createFormatError } from '../src/graphql/format-error';
import { createLogger } from '../src/observability/logger';
import { AppError, ErrorCode } from '../src/graphql/errors';
import { startTestGateway, TestGateway, useGatewayWithOrg } from './support/gateway';
import { graphql, postGraphql } from './support/http';

const SQL_ERROR = 'relation "organizations" does not exist: SELECT k.id FROM api_keys k JOIN organizations o ON o.id = k.organization_id';

/** What Apollo hands formatError for an error thrown inside a resolver. */
function resolverFailure(original: Error): { formatted: any; error: GraphQLError } {
  const error = new GraphQLError(original.message, { path: ['organization'], originalError: original });
  return {
    error,
    formatted: {
      message: original.message,
      path: ['organization'],
      locations: [{ line: 1, column: 3 }],
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: original.stack?.split('\n') },
    },
  };
}

describe('createFormatError', () => {
  const logger = createLogger('silent');

  it('in production masks an internal error: no message, no SQL, no stack trace', () => {
    const { formatted, error } = resolverFailure(new Error(SQL_ERROR));
    const out = createFormatError(true, logger)(formatted, error);
    expect(out).toEqual({
      message: 'Internal server error',
      locations: [{ line: 1, column: 3 }],
      path: ['organization'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(JSON.stringify(out)).not.toMatch(/SELECT|relation|organizations"|\.ts:\d+/);
  });

  it('outside production keeps the message and stack trace for the developer', () => {
    const { formatted, error } = resolverFailure(new Error(SQL_ERROR));
    const out = createFormatError(false, logger)(formatted, error);
    expect(out.message).toBe(SQL_ERROR);
    expect(out.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(out.extensions?.stacktrace).toEqual(expect.any(Array));
  });

  it('in production an unknown code is treated as internal too', () => {
    const { formatted, error } = resolverFailure(new Error(SQL_ERROR));
    const out = createFormatError(true, logger)({ ...formatted, extensions: { code: 'SOMETHING_ELSE' } }, error);
    expect(out.message).toBe('Internal server error');
    expect(out.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
  });

  it('in production keeps a contract error as it is, minus the stack trace', () => {
    const appError = new AppError(ErrorCode.NOT_FOUND, 'folder not found');
    const formatted = { message: appError.message, path: ['folder'], extensions: { code: 'NOT_FOUND', stacktrace: ['at x'] } };
    const out = createFormatError(true, logger)(formatted, appError);
    expect(out).toEqual({ message: 'folder not found', path: ['folder'], extensions: { code: 'NOT_FOUND' } });
  });
});

describe('internal errors over HTTP with NODE_ENV=production', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, env: { NODE_ENV: 'production' }, orgName: 'Masked Org' });

  it('answers a database failure as "Internal server error" with no SQL and no stack trace', async () => {
    // Make the authentication query itself fail with a Postgres error naming tables and SQL.
    await gw.db.query('ALTER TABLE organizations RENAME TO organizations_hidden');
    let res;
    try {
      res = await graphql(gw.url, '{ organization { name } }', {}, { apiKey: org.apiKey });
    } finally {
      await gw.db.query('ALTER TABLE organizations_hidden RENAME TO organizations');
    }
    expect(res.status).toBe(500);
    expect(res.body.errors).toHaveLength(1);
    const [error] = res.body.errors!;
    expect(error.message).toBe('Internal server error');
    expect(error.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(JSON.stringify(res.body)).not.toMatch(/organizations|relation|SELECT|stacktrace|node_modules|\.ts:\d+/);

    // The same request works again once the table is back: the failure was real, not the key.
    const ok = await graphql(gw.url, '{ organization { name } }', {}, { apiKey: org.apiKey });
    expect(ok.body).toEqual({ data: { organization: { name: 'Masked Org' } } });
  });
});

/** Stack frames of the server's own files, as Apollo and Express print them. */
const STACK = /stacktrace|\n\s+at |\(\/[^)]*:\d+:\d+\)|node_modules|\/src\/|\.ts:\d+/;

/** One of each kind of error answer: a 401, a conflict, a rate limit, an internal failure and a route error outside GraphQL. */
async function errorAnswers(gw: TestGateway, apiKey: string): Promise<Record<string, { status: number; text: string }>> {
  const answers: Record<string, { status: number; text: string }> = {};
  const record = async (name: string, response: Promise<{ status: number; text: string }>) => {
    const { status, text } = await response;
    answers[name] = { status, text };
  };
  const post = (body: unknown, key?: string) => postGraphql(gw.url, JSON.stringify(body), { apiKey: key, contentType: 'application/json' });
  await record('unauthenticated', post({ query: '{ organization { id } }' }));
  await post({ query: 'mutation { createFolder(path: "/clash") { id } }' }, apiKey);
  const { uploadFile } = await import('./support/storage');
  await uploadFile(gw.url, apiKey, '/', 'clash-file', 'x');
  await record('conflict', post({ query: 'mutation { createFolder(path: "/clash-file") { id } }' }, apiKey));
  await gw.db.query('ALTER TABLE storage_entries RENAME TO storage_entries_away');
  try {
    // A path never looked up before, so the answer must come from SQL (not the folder cache).
    await record('internal', post({ query: '{ folder(path: "/never-looked-up") { id } }' }, apiKey));
  } finally {
    await gw.db.query('ALTER TABLE storage_entries_away RENAME TO storage_entries');
  }
  // A percent-escape that does not decode: Express's router fails before any route runs.
  const route = await fetch(`${gw.url}/files/%E0%A4%A/content`, { headers: { 'api-key': apiKey } });
  await record(
    'route',
    route.text().then((text) => ({ status: route.status, text })),
  );
  for (let i = 0; i < 10 && !answers.rateLimited; i++) {
    const res = await post({ query: '{ organization { id } }' }, apiKey);
    if (res.status === 429) answers.rateLimited = { status: 429, text: res.text };
  }
  return answers;
}

describe('stack traces and internal messages by NODE_ENV', () => {
  const startWith = async (nodeEnv: string) => {
    const gw = await startTestGateway({
      background: false,
      env: { NODE_ENV: nodeEnv, RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_STORE: 'memory' },
    });
    return { gw, apiKey: (await gw.createOrg('Stacks')).apiKey };
  };

  it.each([
    ['unset (the default)', ''],
    ['production', 'production'],
    ['test', 'test'],
  ])('with NODE_ENV %s, no answer carries a stack trace or an internal message', async (_label, nodeEnv) => {
    const { gw, apiKey } = await startWith(nodeEnv);
    try {
      expect(gw.config.nodeEnv).toBe(nodeEnv || 'production');
      const answers = await errorAnswers(gw, apiKey);
      expect(Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, v.status]))).toEqual({
        unauthenticated: 401,
        conflict: 200,
        internal: 200,
        route: 400,
        rateLimited: 429,
      });
      for (const [name, { text }] of Object.entries(answers)) {
        expect([name, text]).toEqual([name, expect.not.stringMatching(STACK)]);
        expect([name, JSON.parse(text).errors[0].extensions.code]).toEqual([name, expect.any(String)]);
      }
      expect(answers.internal.text).not.toMatch(/storage_entries|relation|SELECT/);
      expect(JSON.parse(answers.internal.text).errors[0].message).toBe('Internal server error');
      expect(JSON.parse(answers.conflict.text).errors[0].extensions.code).toBe('NAME_CONFLICT');
    } finally {
      await gw.close();
    }
  });

  it('with NODE_ENV=development set explicitly, errors carry their stack trace and the internal message', async () => {
    const { gw, apiKey } = await startWith('development');
    try {
      const answers = await errorAnswers(gw, apiKey);
      const internal = JSON.parse(answers.internal.text).errors[0];
      expect(internal.message).toMatch(/storage_entries/);
      expect(internal.extensions.stacktrace).toEqual(expect.any(Array));
      expect(JSON.parse(answers.unauthenticated.text).errors[0].extensions.stacktrace).toEqual(expect.any(Array));
      expect(JSON.parse(answers.route.text).errors[0].extensions.stacktrace).toEqual(expect.any(Array));
    } finally {
      await gw.close();
    }
  });
});
