import { Writable } from 'node:stream';
import { metrics, operationLabel, registerGauge } from '../src/observability/metrics';
import { graphql } from './support/http';
import { runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';
import { waitFor } from './support/poll';

/** Collects the gateway's log output, one parsed JSON object per line. */
class LogCapture extends Writable {
  text = '';
  _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void) {
    this.text += chunk.toString();
    callback();
  }
  lines(): Array<Record<string, any>> {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }
  requests(): Array<Record<string, any>> {
    return this.lines().filter((line) => line.msg === 'request');
  }
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample line of Prometheus text, 0 if absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).match(/^\{(.*)\}/)?.[1] ?? '';
    const have = labelText ? labelText.split(/,(?=[a-z_]+=")/) : [];
    if (wanted.length === have.length && wanted.every((w) => have.includes(w))) return Number(line.split(' ').pop());
  }
  return 0;
}

// The line is written when the response's socket side finishes, just after the client has it.
const waitForLine = (capture: LogCapture, predicate: (line: Record<string, any>) => boolean) =>
  waitFor(
    () => capture.requests().find(predicate),
    Boolean,
    1000,
    () => `such a log line in:\n${capture.text}`,
    10,
  ) as Promise<Record<string, any>>;

describe('request logs and metrics', () => {
  const capture = new LogCapture();
  const { gw, org } = useGatewayWithOrg({
    background: false,
    logDestination: capture,
    env: { RATE_LIMIT_PER_MINUTE: '2' },
    orgName: 'Observed',
  });

  it('writes one JSON line per request with ids, operation, duration and status, never the key', async () => {
    const res = await graphql(
      gw.url,
      'query WhoAmI { organization { id } }',
      {},
      {
        apiKey: org.apiKey,
        headers: { 'x-request-id': 'client-chosen-id-1' },
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('client-chosen-id-1');
    const line = await waitForLine(capture, (l) => l.requestId === 'client-chosen-id-1');
    expect(line).toMatchObject({
      level: 30,
      msg: 'request',
      requestId: 'client-chosen-id-1',
      method: 'POST',
      path: '/graphql',
      status: 200,
      organizationId: org.orgId,
      keyId: org.keyId,
      operationName: 'WhoAmI',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs).toBeGreaterThan(0);
    expect(line.errorCode).toBeUndefined();
    expect(capture.requests().filter((l) => l.requestId === 'client-chosen-id-1')).toHaveLength(1);
  });

  it('logs the error code of refused requests, and still not the key', async () => {
    const wrongSecret = org.apiKey.slice(0, -4) + (org.apiKey.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const refused = await graphql(gw.url, 'query Sneaky { organization { id } }', {}, { apiKey: wrongSecret });
    expect(refused.status).toBe(401);
    const requestId = refused.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const line = await waitForLine(capture, (l) => l.requestId === requestId);
    expect(line).toMatchObject({ status: 401, errorCode: 'UNAUTHENTICATED', path: '/graphql' });
    expect(line.keyId).toBeUndefined();

    const invalid = await graphql(gw.url, 'query Broken { organization { nope } }', {}, { apiKey: org.apiKey });
    expect(invalid.status).toBe(400);
    const invalidLine = await waitForLine(capture, (l) => l.requestId === invalid.headers.get('x-request-id'));
    expect(invalidLine).toMatchObject({ status: 400, errorCode: 'GRAPHQL_VALIDATION_FAILED', keyId: org.keyId });

    // Over the rate limit (2 a minute; this is the key's third request): 429 with the key id, not the key.
    const limited = await graphql(gw.url, '{ organization { id } }', {}, { apiKey: org.apiKey });
    expect(limited.status).toBe(429);
    const limitedLine = await waitForLine(capture, (l) => l.requestId === limited.headers.get('x-request-id'));
    expect(limitedLine).toMatchObject({ status: 429, errorCode: 'RATE_LIMITED', organizationId: org.orgId, keyId: org.keyId });

    const secret = org.apiKey.split('_').slice(3).join('_');
    for (const text of [capture.text]) {
      expect(text).not.toContain(org.apiKey);
      expect(text).not.toContain(wrongSecret);
      expect(text).not.toContain(secret);
    }
  });

  it('replaces a request id that could forge or bloat a log line', async () => {
    for (const sent of ['has spaces', 'x'.repeat(200), 'quote"brace}']) {
      const res = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': sent } });
      const returned = res.headers.get('x-request-id');
      expect(returned).not.toBe(sent);
      expect(returned).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('counts requests and their latency per operation name in /metrics', async () => {
    const other = await gw.admin.organizations.createKey(org.orgId, 'metrics');
    const before = await scrape(gw.url);
    const labels = { route: 'graphql', operation: 'CountedQuery', status: '200' };
    // Fresh key: 2 requests fit in its budget.
    for (let i = 0; i < 2; i++) {
      expect((await graphql(gw.url, 'query CountedQuery { organization { id } }', {}, { apiKey: other.apiKey })).status).toBe(200);
    }
    const after = await scrape(gw.url);
    expect(sample(after, 'alloy_http_requests_total', labels) - sample(before, 'alloy_http_requests_total', labels)).toBe(2);
    expect(
      sample(after, 'alloy_http_request_duration_seconds_count', { route: 'graphql', operation: 'CountedQuery' }) -
        sample(before, 'alloy_http_request_duration_seconds_count', { route: 'graphql', operation: 'CountedQuery' }),
    ).toBe(2);
    const infBucket = { le: '+Inf', route: 'graphql', operation: 'CountedQuery' };
    expect(
      sample(after, 'alloy_http_request_duration_seconds_bucket', infBucket) -
        sample(before, 'alloy_http_request_duration_seconds_bucket', infBucket),
    ).toBe(2);
    expect(sample(after, 'alloy_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'alloy_graphql_errors_total', { code: 'RATE_LIMITED' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'alloy_rate_limited_requests_total', {})).toBeGreaterThanOrEqual(1);
    // Anonymous operations share one series.
    expect(sample(after, 'alloy_http_requests_total', { route: 'graphql', operation: 'anonymous', status: '429' })).toBeGreaterThanOrEqual(
      1,
    );
    // Process figures are there too.
    expect(after).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('exposes the upload counters and gauges that other capabilities register', async () => {
    metrics.uploads.inc({ outcome: 'stored' });
    metrics.uploadBytes.inc(1234);
    let depth = 7;
    registerGauge({ name: 'alloy_test_queue_depth', help: 'jobs waiting', read: () => depth });
    registerGauge({
      name: 'alloy_test_runs',
      help: 'runs by status',
      labelNames: ['status'],
      read: async () => [
        { labels: { status: 'QUEUED' }, value: 3 },
        { labels: { status: 'RUNNING' }, value: 1 },
      ],
    });
    registerGauge({
      name: 'alloy_test_broken',
      help: 'a gauge whose source fails',
      read: async () => Promise.reject(new Error('db down')),
    });
    let text = await scrape(gw.url);
    expect(sample(text, 'alloy_uploads_total', { outcome: 'stored' })).toBe(1);
    expect(sample(text, 'alloy_upload_bytes_total', {})).toBe(1234);
    expect(sample(text, 'alloy_test_queue_depth', {})).toBe(7);
    expect(sample(text, 'alloy_test_runs', { status: 'QUEUED' })).toBe(3);
    expect(sample(text, 'alloy_test_runs', { status: 'RUNNING' })).toBe(1);
    expect(text).toContain('# HELP alloy_test_broken a gauge whose source fails');
    depth = 9;
    text = await scrape(gw.url);
    expect(sample(text, 'alloy_test_queue_depth', {})).toBe(9);
  });

  it("README: the rate limit headers example prints the key's budget", async () => {
    const { apiKey } = await gw.admin.organizations.createKey(org.orgId, 'readme-headers');
    const { stdout, stderr, code } = await runExample('rate-limit-headers', { ALLOY_URL: gw.url, API_KEY: apiKey });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^RateLimit-Limit: 2\r?$/im);
    expect(stdout).toMatch(/^RateLimit-Remaining: 1\r?$/im);
    expect(stdout).toMatch(/^RateLimit-Reset: \d+\r?$/im);
  });

  it('README: the metrics example finds its request counted', async () => {
    const { apiKey } = await gw.admin.organizations.createKey(org.orgId, 'readme-metrics');
    const { stdout, stderr, code } = await runExample('metrics', { ALLOY_URL: gw.url, API_KEY: apiKey });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^alloy_http_requests_total\{route="graphql",operation="Hello",status="200"\} 1$/);
  });

  // Last: it fills the process's operation names.
  it('bounds the operation label: names past the first 200, and odd ones, count as other', () => {
    expect(operationLabel(null)).toBe('anonymous');
    expect(operationLabel('has space')).toBe('other');
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(operationLabel(`Generated${i}`));
    expect(seen.has('other')).toBe(true);
    expect(seen.size).toBeLessThanOrEqual(201);
    expect(operationLabel('Generated0')).toBe('Generated0');
  });
});
