import { GraphQLError } from 'graphql';
import { createFormatError } from '../src/graphql/format-error';
import { createLogger } from '../src/observability/logger';
import { AppError, ErrorCode } from '../src/graphql/errors';
import { startTestGateway, TestGateway } from './support/gateway';
import { graphql } from './support/http';

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
  let gw: TestGateway;
  let apiKey: string;

  beforeAll(async () => {
    gw = await startTestGateway({ background: false, env: { NODE_ENV: 'production' } });
    ({ apiKey } = await gw.createOrg('Masked Org'));
  });
  afterAll(() => gw.close());

  it('answers a database failure as "Internal server error" with no SQL and no stack trace', async () => {
    // Make the authentication query itself fail with a Postgres error naming tables and SQL.
    await gw.db.query('ALTER TABLE organizations RENAME TO organizations_hidden');
    let res;
    try {
      res = await graphql(gw.url, '{ organization { name } }', {}, { apiKey });
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
    const ok = await graphql(gw.url, '{ organization { name } }', {}, { apiKey });
    expect(ok.body).toEqual({ data: { organization: { name: 'Masked Org' } } });
  });
});
