import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';

const ORG_QUERY = '{ organization { id name } }';

describe('CSRF prevention', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Csrf' });

  it.each([
    ['a text/plain POST', 'POST', { 'content-type': 'text/plain' }],
    ['a form POST', 'POST', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['a multipart POST', 'POST', { 'content-type': 'multipart/form-data; boundary=x' }],
    // An empty preflight header is none (Apollo's rule): the upload parser does not read the body either.
    [
      'a multipart POST with an empty header',
      'POST',
      { 'content-type': 'multipart/form-data; boundary=x', 'apollo-require-preflight': '' },
    ],
    ['a GET', 'GET', {}],
  ])('refuses %s that carries neither api-key nor apollo-require-preflight', async (_label, method, headers) => {
    const url = method === 'GET' ? `${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}` : `${gw.url}/graphql`;
    const response = await fetch(url, {
      method,
      headers: headers as Record<string, string>,
      body: method === 'GET' ? undefined : JSON.stringify({ query: '{ __typename }' }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/Cross-Site Request Forgery/);
  });

  it('accepts a GET query when the api-key header is there (it forces a browser preflight)', async () => {
    const response = await fetch(`${gw.url}/graphql?query=${encodeURIComponent(ORG_QUERY)}`, { headers: { 'api-key': org.apiKey } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).data.organization.name).toBe('Csrf');
  });
});

describe('error masking in production', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, env: { NODE_ENV: 'production' }, orgName: 'Masked' });

  it('answers a database failure as INTERNAL_SERVER_ERROR with no SQL, table name or stack trace', async () => {
    await gw.db.query('ALTER TABLE api_keys RENAME TO api_keys_away');
    try {
      const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey });
      expect(res.status).toBe(500);
      expect(errorCode(res)).toBe('INTERNAL_SERVER_ERROR');
      const text = JSON.stringify(res.body);
      expect(text).not.toMatch(/api_keys|relation|SELECT|stacktrace|at [A-Za-z.]+ \(/);
      expect(res.body.errors?.[0].message).toBe('Internal server error');
    } finally {
      await gw.db.query('ALTER TABLE api_keys_away RENAME TO api_keys');
    }
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('keeps client errors as they are, without stack traces', async () => {
    const res = await graphql(gw.url, '{ organization { nope } }', {}, { apiKey: org.apiKey });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0].message).toMatch(/nope/);
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace/);
  });
});

describe('the /graphql route (src/http/graphql-route.ts), served as Express mounted it', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Route' });

  it.each(['/graphql', '/GraphQL', '/graphql/', '/graphql?x=1'])('answers a GraphQL POST to %s', async (path) => {
    const response = await fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': org.apiKey, 'x-request-id': 'route-check' },
      body: JSON.stringify({ query: ORG_QUERY }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('route-check');
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(((await response.json()) as any).data.organization.name).toBe('Route');
  });

  it('leaves other paths to the app: /graphqlx is not GraphQL', async () => {
    const response = await fetch(`${gw.url}/graphqlx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': org.apiKey },
      body: JSON.stringify({ query: ORG_QUERY }),
    });
    expect(response.status).toBe(404);
  });

  it('answers a malformed JSON body in the GraphQL error shape, not an HTML page', async () => {
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': org.apiKey },
      body: '{"query": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ errors: [{ message: 'Malformed JSON body', extensions: { code: 'BAD_REQUEST' } }] });
  });
});
