import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';

const ORG_QUERY = '{ organization { id name } }';

describe('API key authentication', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Acme' });

  it('answers the organization of the key', async () => {
    const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { organization: { id: org.orgId, name: 'Acme' } } });
  });

  it.each([
    ['missing', {}],
    ['empty', { 'api-key': '' }],
    ['malformed', { 'api-key': 'not-a-key' }],
    ['unknown', { 'api-key': 'alloy_sk_0123456789abcdef_' + 'A'.repeat(43) }],
    ['bearer', { authorization: 'Bearer whatever' }],
  ])('refuses a %s key with 401 UNAUTHENTICATED', async (_label, headers) => {
    const res = await graphql(gw.url, ORG_QUERY, {}, { headers });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.body.data ?? null).toBeNull();
  });

  it('tells bearer-token users to use the api-key header', async () => {
    const res = await graphql(gw.url, ORG_QUERY, {}, { headers: { authorization: `Bearer ${org.apiKey}` } });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0].message).toMatch(/api-key/);
  });

  it('refuses a key whose secret part is wrong even though its lookup part exists', async () => {
    const forged = org.apiKey.slice(0, -4) + (org.apiKey.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: forged });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
  });

  it('stops accepting a revoked key at once', async () => {
    const key = await gw.services.organizations.createKey(org.orgId, 'short-lived');
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    await gw.services.organizations.revokeKey(key.keyId);
    const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0].message).toMatch(/revoked/);
    // The organization's other key still works.
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('allows introspection without a key, and nothing else', async () => {
    const res = await graphql(gw.url, '{ __schema { queryType { name } } __typename }');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ __schema: { queryType: { name: 'Query' } }, __typename: 'Query' });
    const sneaky = await graphql(gw.url, 'query { ...F } fragment F on Query { __typename organization { id } }');
    expect(sneaky.status).toBe(401);
    expect(errorCode(sneaky)).toBe('UNAUTHENTICATED');
  });

  it('keeps only a hash of each key, never the key or its secret', async () => {
    const rows: Array<Record<string, unknown>> = await gw.db.query('SELECT * FROM api_keys WHERE organization_id = $1', [org.orgId]);
    expect(rows.length).toBeGreaterThan(0);
    const secret = org.apiKey.split('_').slice(3).join('_');
    for (const row of rows) {
      const dump = JSON.stringify(row, (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v));
      expect(dump).not.toContain(org.apiKey);
      expect(dump).not.toContain(secret);
      expect(Buffer.isBuffer(row.secret_hash)).toBe(true);
      expect((row.secret_hash as Buffer).length).toBe(32);
    }
  });

  it('records lastUsedAt, writing it at most once a minute', async () => {
    const key = await gw.services.organizations.createKey(org.orgId, 'usage');
    const read = async () =>
      (await gw.db.query('SELECT last_used_at FROM api_keys WHERE id = $1', [key.keyId]))[0].last_used_at as Date | null;
    expect(await read()).toBeNull();
    await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey });
    await new Promise((r) => setTimeout(r, 200));
    const first = await read();
    expect(first).toBeInstanceOf(Date);
    for (let i = 0; i < 5; i++) await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey });
    await new Promise((r) => setTimeout(r, 200));
    expect((await read())?.getTime()).toBe(first!.getTime());
  });
});
