import { ConfigError, loadConfig } from '../src/config/config';
import { ChildGateway, startChildGateway } from './support/process';
import { errorCode, graphql, GraphQLResponse } from './support/http';
import { startTestGateway, useGatewayWithOrg } from './support/gateway';
import { tempDir, uploadFile } from './support/storage';

const ORG_QUERY = '{ organization { id } }';

const statuses = (responses: GraphQLResponse[]) => responses.map((r) => r.status);
const count = (responses: GraphQLResponse[], status: number) => responses.filter((r) => r.status === status).length;

function expectRateLimited(res: GraphQLResponse, limit: number) {
  expect(res.status).toBe(429);
  expect(errorCode(res)).toBe('RATE_LIMITED');
  expect(res.body.data ?? null).toBeNull();
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
}

describe('per-API-key rate limit shared through Postgres by two gateway processes', () => {
  const LIMIT = 10;
  let child: ChildGateway;
  const { gw, org } = useGatewayWithOrg({
    background: false,
    env: { RATE_LIMIT_PER_MINUTE: String(LIMIT) },
    orgName: 'Budget',
    beforeClose: () => child?.stop(),
  });

  beforeAll(async () => {
    child = await startChildGateway(gw.database.url, { RATE_LIMIT_PER_MINUTE: String(LIMIT) });
  });

  it('spends one budget per key across both processes: 6 + 6 requests against 10 a minute, 2 refused', async () => {
    expect(child.url).not.toBe(gw.url);
    const responses: GraphQLResponse[] = [];
    // Alternate between the two processes, as a load balancer would.
    for (let i = 0; i < 6; i++) {
      responses.push(await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey }));
      responses.push(await graphql(child.url, ORG_QUERY, {}, { apiKey: org.apiKey }));
    }
    expect(count(responses, 200)).toBe(10);
    expect(count(responses, 429)).toBe(2);
    // The first ten went through, whichever process answered them.
    expect(statuses(responses.slice(0, 10))).toEqual(Array(10).fill(200));
    expectRateLimited(responses[10], LIMIT);
    expectRateLimited(responses[11], LIMIT);
    // The remaining budget counted down over both processes.
    expect(responses.slice(0, 10).map((r) => r.headers.get('ratelimit-remaining'))).toEqual([
      '9',
      '8',
      '7',
      '6',
      '5',
      '4',
      '3',
      '2',
      '1',
      '0',
    ]);
    expect(responses[0].headers.get('ratelimit-limit')).toBe(String(LIMIT));
    expect(responses[10].body.errors?.[0].message).toMatch(/Rate limit of 10 requests per minute/);
  });

  it('keeps refusing the spent key on both processes, and other keys keep their own budget', async () => {
    expectRateLimited(await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey }), LIMIT);
    expectRateLimited(await graphql(child.url, ORG_QUERY, {}, { apiKey: org.apiKey }), LIMIT);
    const other = await gw.admin.organizations.createKey(org.orgId, 'second');
    const res = await graphql(child.url, ORG_QUERY, {}, { apiKey: other.apiKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe(String(LIMIT - 1));
  });

  it('does not limit requests without a key (introspection), which are refused or answered on their own terms', async () => {
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await graphql(gw.url, '{ __typename }');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBeNull();
    }
  });

  it('keeps counters by key id in its own table, never the key', async () => {
    const rows: Array<{ key: string; points: number }> = await gw.db.query('SELECT key, points FROM rate_limits');
    const mine = rows.find((r) => r.key === `apikey:${org.keyId}`);
    expect(mine?.points).toBeGreaterThanOrEqual(12);
    expect(JSON.stringify(rows)).not.toContain(org.apiKey);
  });
});

describe('rate limit configuration', () => {
  it('counts per process with RATE_LIMIT_STORE=memory', async () => {
    const gw = await startTestGateway({ background: false, env: { RATE_LIMIT_STORE: 'memory', RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      const { apiKey } = await gw.createOrg();
      const responses: GraphQLResponse[] = [];
      for (let i = 0; i < 4; i++) responses.push(await graphql(gw.url, ORG_QUERY, {}, { apiKey }));
      expect(statuses(responses)).toEqual([200, 200, 200, 429]);
      expectRateLimited(responses[3], 3);
      // Nothing went to the database.
      expect(await gw.db.query('SELECT * FROM rate_limits')).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('is off with RATE_LIMIT_PER_MINUTE=0', async () => {
    const gw = await startTestGateway({ background: false, env: { RATE_LIMIT_PER_MINUTE: '0' } });
    try {
      const { apiKey } = await gw.createOrg();
      for (let i = 0; i < 30; i++) {
        const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey });
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBeNull();
      }
    } finally {
      await gw.close();
    }
  });

  it('defaults to 600 a minute in Postgres, and refuses malformed values naming the variable', () => {
    expect(loadConfig({}).rateLimit).toEqual({ store: 'postgres', perMinute: 600 });
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(ConfigError);
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(/^Invalid RATE_LIMIT_STORE:/);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(/^Invalid RATE_LIMIT_PER_MINUTE:/);
  });
});

describe('keyed file downloads', () => {
  it("spend from the key's budget as /graphql requests do: 429 RATE_LIMITED with Retry-After once it is spent", async () => {
    const gw = await startTestGateway({ background: false, env: { RATE_LIMIT_PER_MINUTE: '4', STORAGE_DIR: tempDir('rate-limit-files') } });
    try {
      const { apiKey } = await gw.createOrg();
      // The upload is a /graphql request: the first of the four.
      const uploaded = await uploadFile(gw.url, apiKey, '/', 'budget.txt', 'bytes', { select: 'id downloadUrl' });
      expect(uploaded.status).toBe(200);
      const { id, downloadUrl } = uploaded.body.data.uploadFile;
      const downloads = [];
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${gw.url}/files/${id}/content`, { headers: { 'api-key': apiKey } });
        downloads.push({ status: res.status, headers: res.headers, text: await res.text() });
      }
      expect(downloads.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(downloads[0].text).toBe('bytes');
      expect(downloads.slice(0, 3).map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['2', '1', '0']);
      const refused = downloads[3];
      expect(refused.headers.get('ratelimit-limit')).toBe('4');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const body = JSON.parse(refused.text);
      expect(body.errors[0].extensions.code).toBe('RATE_LIMITED');
      expect(body.errors[0].message).toMatch(/Rate limit of 4 requests per minute/);
      // The same budget as the key's GraphQL requests.
      expectRateLimited(await graphql(gw.url, ORG_QUERY, {}, { apiKey }), 4);
      // No key (a signed URL), no limit.
      const signed = await fetch(downloadUrl);
      expect(signed.status).toBe(200);
      expect(await signed.text()).toBe('bytes');
      expect(signed.headers.get('ratelimit-limit')).toBeNull();
    } finally {
      await gw.close();
    }
  });
});
