import { gatewaySchema } from '../src/app/schema';
import { startGateway, Gateway } from '../src/http/gateway';
import { createLogger } from '../src/observability/logger';
import { useGatewayWithOrg } from './support/gateway';

describe('GET /healthz and GET /readyz', () => {
  let failing: Gateway;
  const logLines: string[] = [];
  const { gw } = useGatewayWithOrg({ background: false, beforeClose: () => failing?.close() });

  beforeAll(async () => {
    // A second gateway on the same services, with one dependency that does not answer.
    failing = await startGateway({
      schema: await gatewaySchema(),
      services: gw.services,
      logger: createLogger('warn', { write: (line: string) => void logLines.push(line) }),
      port: 0,
      host: '127.0.0.1',
      readinessChecks: [{ name: 'storage', check: async () => Promise.reject(new Error('bucket unreachable')) }],
    });
  });

  it('/healthz answers 200 without a key', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when the database, storage and queue answer', async () => {
    const res = await fetch(`${gw.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, checks: { database: { ok: true }, storage: { ok: true }, queue: { ok: true } } });
  });

  it('/readyz answers 503 naming the dependency that does not answer; its reason goes to the log', async () => {
    const res = await fetch(`${failing.url}/readyz`);
    expect(res.status).toBe(503);
    // The reason (a driver's message may name hosts and ports) is shown only with NODE_ENV=development.
    expect(await res.json()).toEqual({
      ready: false,
      checks: { database: { ok: true }, storage: { ok: false, error: 'unavailable' }, queue: { ok: true } },
    });
    expect(logLines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ msg: 'readiness check failed', check: 'storage', reason: 'bucket unreachable' }),
    );
    expect((await fetch(`${failing.url}/healthz`)).status).toBe(200);
  });
});
