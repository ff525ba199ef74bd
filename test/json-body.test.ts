import { gzipSync } from 'node:zlib';
import { useGatewayWithOrg } from './support/gateway';
import { postGraphql } from './support/http';

/**
 * The /graphql JSON body reader has a short path for plain JSON POSTs (src/http/json-body.ts);
 * everything else goes through express.json. Both must answer alike.
 */
describe('GraphQL JSON bodies', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Bodies' });

  const post = (body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> =>
    postGraphql(gw.url, body, { apiKey: org.apiKey, contentType: 'application/json', headers });
  const query = JSON.stringify({ query: '{ organization { name } }' });

  it.each([['application/json'], ['application/json; charset=utf-8'], ['Application/JSON;charset=UTF-8']])(
    'reads a query sent as %s',
    async (type) => {
      const res = await post(query, { 'content-type': type });
      expect(res.status).toBe(200);
      expect(res.body.data.organization.name).toBe('Bodies');
    },
  );

  it('reads a body that starts with a byte order mark', async () => {
    const res = await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(query)]));
    expect(res.status).toBe(200);
    expect(res.body.data.organization.name).toBe('Bodies');
  });

  it('reads a gzip-compressed body (through express.json)', async () => {
    const res = await post(gzipSync(query), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(res.body.data.organization.name).toBe('Bodies');
  });

  it.each([
    ['malformed JSON', '{"query": '],
    ['a JSON string', '"{ organization { id } }"'],
    ['a JSON number', '42'],
  ])('refuses %s with 400 BAD_REQUEST', async (_label, body) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(res.body.errors[0].message).toBe('Malformed JSON body');
  });

  it('refuses a body over the 2 MB limit with 413', async () => {
    const res = await post(JSON.stringify({ query: '{ organization { id } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(res.status).toBe(413);
    expect(res.body.errors[0].message).toMatch(/too large/);
  });

  it('refuses a charset other than UTF-8 with 415', async () => {
    const res = await post(query, { 'content-type': 'application/json; charset=latin1' });
    expect(res.status).toBe(415);
  });
});
