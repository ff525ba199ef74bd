import { Storage } from '@google-cloud/storage';
import { GraphQLError } from 'graphql';
import { Client } from 'pg';
import { createFormatError } from '../src/graphql/format-error';
import { createLogger } from '../src/observability/logger';
import fs from 'node:fs';
import path from 'node:path';
import { graphql, GraphQLResponse } from './support/http';
import { CliProcess, freePort, isAlive, runCli, singleJsonObject } from './support/process';
import { poll } from './support/poll';
import { PrivatePostgres, startPrivatePostgres } from './support/private-postgres';

/**
 * Postgres going away and coming back while `alloy serve` runs. The gateway runs as a child process
 * (what `npm start` runs, workflow worker included, so its pg-boss queue is polling throughout)
 * against a PostgreSQL cluster of this test's own, so the shared server on 5432 is never disturbed.
 */
const START_TIMEOUT = 120_000;
/** A request that takes longer than this during the outage counts as hanging. */
const HANG_LIMIT_MS = 15_000;
/** How long the gateway may take to serve again once the database is back. */
const RECOVERY_LIMIT_MS = 20_000;

const QUERY = '{ organization { id name } }';
const TRIGGER = 'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }';
const RUN = 'query($id: ID!) { workflowRun(id: $id) { status output error } }';
/** How long a queued run may take to finish (the worker polls pg-boss every few seconds). */
const RUN_LIMIT_MS = 30_000;

let postgres: PrivatePostgres;
let gateway: CliProcess;
let url: string;
let apiKey: string;
let orgId: string;
let workflowId: string;

/** A request the gateway could not take at all: name what the gateway printed, not just ECONNREFUSED. */
function unreachable(error: unknown): never {
  const state = gateway.running ? 'running' : 'no longer running';
  throw new Error(`gateway unreachable (${(error as Error).message}); it is ${state}. Its output:\n${gateway.output}`);
}

const post = (query: string, key?: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse> =>
  graphql(url, query, variables, { apiKey: key, signal: AbortSignal.timeout(HANG_LIMIT_MS) }).catch(unreachable);

async function get(route: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${route}`, { signal: AbortSignal.timeout(HANG_LIMIT_MS) }).catch(unreachable);
  return { status: response.status, body: await response.json() };
}

/** Polls `probe` until it returns true; false if it never did within `limitMs`. A probe that throws is a "not yet". */
const eventually = async (probe: () => Promise<boolean>, limitMs: number): Promise<boolean> =>
  (await poll(probe, Boolean, { timeoutMs: limitMs, intervalMs: 250, ignoreErrors: true })).reached;

/**
 * Triggers the workflow through GraphQL and waits for the worker to finish the run: the job goes
 * through the gateway's pg-boss queue (sent in the trigger's transaction, fetched by the worker).
 */
async function runToCompletion(payload: Record<string, unknown>): Promise<any> {
  const triggered = await post(TRIGGER, apiKey, { id: workflowId, payload });
  expect(triggered.body.errors).toBeUndefined();
  const { runId } = triggered.body.data.triggerWorkflow;
  let run: any;
  const finished = await eventually(async () => {
    run = (await post(RUN, apiKey, { id: runId })).body.data?.workflowRun;
    return run?.status === 'SUCCEEDED' || run?.status === 'FAILED';
  }, RUN_LIMIT_MS);
  expect({ finished, run }).toMatchObject({ finished: true });
  return run;
}

beforeAll(async () => {
  postgres = await startPrivatePostgres('faults-postgres');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  gateway = new CliProcess(['serve'], {
    PORT: String(port),
    DATABASE_URL: postgres.url,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
  });
  [, apiKey] = await gateway.waitForOutput(/^API key: (\S+)$/m, START_TIMEOUT);
  await gateway.waitForOutput(/"msg":"listening"/, 10_000);
}, START_TIMEOUT + 30_000);

afterAll(async () => {
  if (gateway?.running) await gateway.stop('SIGTERM', 30_000).catch(() => gateway.stop('SIGKILL', 5_000));
  await postgres?.destroy();
}, 60_000);

describe('Postgres stopped and started while the gateway runs', () => {
  it('serves normally before the outage', async () => {
    const res = await post(QUERY, apiKey);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.organization.name).toBe('My organization');
    orgId = res.body.data.organization.id;
    expect(await get('/readyz')).toEqual({
      status: 200,
      body: { ready: true, checks: { database: { ok: true }, storage: { ok: true }, queue: { ok: true } } },
    });

    const file = path.join(postgres.dir, 'echo.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ name: 'echo', startStep: 'shape', steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } } }),
    );
    const created = await runCli(['workflow', 'create', '--org', orgId, '--file', file, '--json'], { DATABASE_URL: postgres.url });
    expect(created.code).toBe(0);
    workflowId = singleJsonObject(created.stdout).workflowId;
    expect(await runToCompletion({ text: 'before' })).toEqual({ status: 'SUCCEEDED', output: { echo: 'before' }, error: null });
  }, 60_000);

  it('during the outage: clean 503 answers with Retry-After, /readyz false, /healthz up, process alive', async () => {
    await postgres.stop();

    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await post(QUERY, apiKey);
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors).toEqual([
        {
          message: 'Service temporarily unavailable: the database cannot be reached. Retry shortly.',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        },
      ]);
      // Nothing of the driver, the SQL or the stack reaches the client.
      expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|SELECT|api_keys|Context creation|\bat .+:\d+:\d+/);
    }

    // A key that cannot be checked now is not called invalid: the same 503, not a 401.
    const unknownKey = await post(QUERY, `${apiKey.slice(0, -4)}AAAA`);
    expect(unknownKey.status).toBe(503);
    // A mutation is refused the same way, before anything is written or queued.
    const trigger = await post(TRIGGER, apiKey, { id: workflowId, payload: { text: 'during' } });
    expect(trigger.status).toBe(503);
    expect(trigger.body.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    // What is refused without reading the database still is.
    const malformed = await post(QUERY, 'not-a-key');
    expect(malformed.status).toBe(401);
    expect(malformed.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');

    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.ready).toBe(false);
    expect(ready.body.checks.database.ok).toBe(false);
    expect(ready.body.checks.queue.ok).toBe(false);

    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    // What needs no database still works: the schema is public.
    const typename = await post('{ __typename }');
    expect(typename.status).toBe(200);
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });

    // Long enough for pooled connections and the worker's pg-boss polling to hit the outage.
    await new Promise((r) => setTimeout(r, 5000));
    expect(gateway.running).toBe(true);
    expect(isAlive(gateway.pid)).toBe(true);
    expect(gateway.stderr).not.toMatch(/uncaught|unhandled/i);
    // Outage log lines name the error, not the pg client object with its sockets and buffers.
    expect(gateway.stdout).toMatch(/"msg":"database unavailable"/);
    expect(gateway.stdout).not.toMatch(/_poolUseCount|"_events"/);
  }, 120_000);

  it('during the outage: a resolver that loses the database gets the same clear message', async () => {
    expect(postgres.running).toBe(false);
    // The real driver error of this outage, as a resolver would see it.
    const lost = await new Client({ connectionString: postgres.url }).connect().then(
      () => undefined,
      (error: Error) => error,
    );
    expect(lost).toMatchObject({ code: 'ECONNREFUSED' });
    const error = new GraphQLError(lost!.message, { path: ['organization'], originalError: lost });
    const formatted = { message: lost!.message, path: ['organization'], extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(createFormatError(true, createLogger('silent'))(formatted, error)).toEqual({
      message: 'Service temporarily unavailable: the database cannot be reached. Retry shortly.',
      path: ['organization'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('only the database is called the database: a storage connection failure stays an internal error', async () => {
    const closedPort = await freePort();
    const storage = new Storage({
      apiEndpoint: `http://127.0.0.1:${closedPort}`,
      projectId: 'faults',
      retryOptions: { autoRetry: false },
    });
    const failure = await storage
      .bucket('b')
      .file('f')
      .download()
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(failure).toMatchObject({ code: 'ECONNREFUSED' });
    const error = new GraphQLError(failure!.message, { path: ['file'], originalError: failure });
    const formatted = { message: failure!.message, path: ['file'], extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(createFormatError(true, createLogger('silent'))(formatted, error)).toEqual({
      message: 'Internal server error',
      path: ['file'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('after the database is back: full service with the same key, no gateway restart', async () => {
    const pid = gateway.pid;
    await postgres.start();

    const recovered = await eventually(async () => (await post(QUERY, apiKey)).status === 200, RECOVERY_LIMIT_MS);
    expect(recovered).toBe(true);
    const res = await post(QUERY, apiKey);
    expect(res.body).toEqual({ data: { organization: { id: orgId, name: 'My organization' } } });
    expect(await eventually(async () => (await get('/readyz')).status === 200, RECOVERY_LIMIT_MS)).toBe(true);
    expect(await get('/readyz')).toEqual({
      status: 200,
      body: { ready: true, checks: { database: { ok: true }, storage: { ok: true }, queue: { ok: true } } },
    });
    // The queue inside the gateway works again: a new run is sent, fetched and finished.
    expect(await runToCompletion({ text: 'after stop' })).toEqual({ status: 'SUCCEEDED', output: { echo: 'after stop' }, error: null });

    expect(gateway.running).toBe(true);
    expect(gateway.pid).toBe(pid);
  }, 120_000);

  it('a crash of Postgres (immediate shutdown) and its restart: the same clean outage and recovery', async () => {
    const pid = gateway.pid;
    await postgres.crash();

    const res = await post(QUERY, apiKey);
    expect(res.status).toBe(503);
    expect(res.body.errors?.[0]).toEqual({
      message: 'Service temporarily unavailable: the database cannot be reached. Retry shortly.',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect((await get('/readyz')).status).toBe(503);

    await postgres.start();
    expect(await eventually(async () => (await post(QUERY, apiKey)).status === 200, RECOVERY_LIMIT_MS)).toBe(true);
    expect((await post(QUERY, apiKey)).body).toEqual({ data: { organization: { id: orgId, name: 'My organization' } } });
    expect(await eventually(async () => (await get('/readyz')).status === 200, RECOVERY_LIMIT_MS)).toBe(true);
    expect(await runToCompletion({ text: 'after crash' })).toEqual({ status: 'SUCCEEDED', output: { echo: 'after crash' }, error: null });
    expect(gateway.running).toBe(true);
    expect(gateway.pid).toBe(pid);
  }, 120_000);

  it('still shuts down cleanly on SIGTERM after the outages', async () => {
    expect(await gateway.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(gateway.stderr).toBe('');
  });
});
