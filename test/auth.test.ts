import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { tempDir, uploadFile } from './support/storage';

const ORG_QUERY = '{ organization { id name } }';

describe('API key authentication', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Acme', env: { STORAGE_DIR: tempDir('auth-files') } });

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
    const key = await gw.admin.organizations.createKey(org.orgId, 'short-lived');
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    await gw.admin.organizations.revokeKey(key.keyId);
    const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0].message).toMatch(/revoked/);
    // The organization's other key still works.
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('refuses a bad or revoked key on the file route as on /graphql, while a signed URL needs no key', async () => {
    const uploaded = await uploadFile(gw.url, org.apiKey, '/', 'keyed.txt', 'keyed bytes', { select: 'id downloadUrl' });
    const { id, downloadUrl } = uploaded.body.data.uploadFile;
    const content = async (headers: Record<string, string>, url = `${gw.url}/files/${id}/content`) => {
      const res = await fetch(url, { headers });
      return { status: res.status, text: await res.text() };
    };
    expect(await content({ 'api-key': org.apiKey })).toEqual({ status: 200, text: 'keyed bytes' });
    const key = await gw.admin.organizations.createKey(org.orgId, 'file reader');
    await gw.admin.organizations.revokeKey(key.keyId);
    for (const [apiKey, message] of [
      ['not-a-key', /not an Alloy organization API key/],
      ['alloy_sk_0123456789abcdef_' + 'A'.repeat(43), /^Invalid API key$/],
      [key.apiKey, /revoked/],
    ] as const) {
      const refused = await content({ 'api-key': apiKey });
      expect(refused.status).toBe(401);
      const body = JSON.parse(refused.text);
      expect(body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(body.errors[0].message).toMatch(message);
    }
    // Without a key the route asks for one, a bearer token included; a signed URL is enough.
    const keyless = await content({ authorization: `Bearer ${org.apiKey}` });
    expect(keyless.status).toBe(401);
    expect(JSON.parse(keyless.text).errors[0].message).toMatch(/signed downloadUrl/);
    expect(await content({ authorization: `Bearer ${org.apiKey}` }, downloadUrl)).toEqual({ status: 200, text: 'keyed bytes' });
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
    const key = await gw.admin.organizations.createKey(org.orgId, 'usage');
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
