import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createAdmin, createServices, Services } from '../src/app/services';
import { loadConfig } from '../src/config/config';
import { createLogger } from '../src/observability/logger';
import { Queue, startQueue } from '../src/queue/queue';
import { startChildGateway, ChildGateway } from './support/process';
import { createTestDatabase } from './support/database';
import { collectSubscription } from './support/graphql-ws';
import { graphql } from './support/http';
import { startHookServer, HookServer } from './support/hook-server';
import { md5, tempDir } from './support/storage';
import { waitFor } from './support/poll';

/**
 * SIGTERM with work in flight, on the real process (`alloy serve`): an upload still streaming
 * completes and is stored, a workflow step still running finishes and its result is kept (the
 * run goes back to the queue for the rest), and the process then exits 0.
 */

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: ChildGateway | undefined;
let hooks: HookServer;
let dir: string;
let apiKey: string;
let orgId: string;
/** The composition root's services on the test's database, for what the test sets up beside the child gateway. */
let services: Services;
let queue: Queue;

beforeAll(async () => {
  database = await createTestDatabase();
  hooks = await startHookServer();
  dir = tempDir('alloy-shutdown-');
  queue = await startQueue(database.url, createLogger('silent'), { supervise: false });
  services = createServices(database.dataSource, loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url, STORAGE_DIR: dir }), queue);
  ({ apiKey, orgId } = await createAdmin(services).organizations.createOrganization('shutdown'));
});

afterEach(async () => {
  if (gateway && gateway.process.exitCode === null && gateway.process.signalCode === null) gateway.process.kill('SIGKILL');
  gateway = undefined;
});

afterAll(async () => {
  await hooks?.close();
  await queue?.stop({ graceful: false, wait: true, timeout: 5000 });
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const start = (worker: boolean) =>
  startChildGateway(database.url, { STORAGE_DIR: dir, LOG_LEVEL: 'info', WORKFLOW_LEASE_SECONDS: '30' }, { worker });

/** The child has logged that it received the signal and is shutting down. */
const shuttingDown = (child: ChildGateway) =>
  waitFor(async () => /"msg":"shutting down"/.test(child.output()), Boolean, 30_000, 'the gateway to log "shutting down"');

const exitOf = (child: ChildGateway) =>
  new Promise<number | null>((resolve) => {
    if (child.process.exitCode !== null) return resolve(child.process.exitCode);
    child.process.once('exit', (code) => resolve(code));
  });

/** A multipart upload whose file part is sent in two halves, the second only when `finish` is called. */
function slowUpload(url: string, bytes: Buffer) {
  const boundary = 'alloyShutdownBoundary';
  const operations = JSON.stringify({
    query: 'mutation($file: Upload!) { uploadFile(folder: "/drain", file: $file) { id md5 size } }',
    variables: { file: null },
  });
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.file"]}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const half = Math.floor(bytes.length / 2);
  const request = http.request(`${url}/graphql`, {
    method: 'POST',
    headers: { 'api-key': apiKey, 'content-type': `multipart/form-data; boundary=${boundary}` },
  });
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    request.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      res.on('error', reject);
    });
    request.once('error', reject);
  });
  request.write(Buffer.concat([head, bytes.subarray(0, half)]));
  return {
    answer,
    finish() {
      request.end(Buffer.concat([bytes.subarray(half), tail]));
    },
  };
}

/** `triggerWorkflow` on the gateway at `url`, with the organization's key. */
const triggerOn = (url: string, workflowId: string) =>
  graphql(url, 'mutation ($id: ID!) { triggerWorkflow(workflowId: $id) { runId } }', { id: workflowId }, { apiKey });

describe('SIGTERM drains work in flight', () => {
  it('completes an upload that is still streaming, then exits 0', async () => {
    gateway = await start(false);
    const child = gateway;
    const bytes = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7) % 256));
    const upload = slowUpload(child.url, bytes);
    // The upload has reached the storage service: its object is being written.
    await waitFor(
      async () => (await database.dataSource.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n === 1,
      Boolean,
      30_000,
      'the upload to start streaming into storage',
    );

    child.process.kill('SIGTERM');
    await shuttingDown(child);
    upload.finish();

    const { status, body } = await upload.answer;
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.uploadFile).toMatchObject({ md5: md5(bytes), size: bytes.length });
    expect(await exitOf(child)).toBe(0);

    const [row] = await database.dataSource.query(`SELECT object_key, md5 FROM storage_entries WHERE id = $1`, [body.data.uploadFile.id]);
    expect(row.md5).toBe(md5(bytes));
    expect(md5(fs.readFileSync(path.join(dir, row.object_key)))).toBe(md5(bytes));
    expect((await database.dataSource.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n).toBe(0);
  });

  it('lets the worker finish its current step and keep its result, then exits 0', async () => {
    const { release } = hooks.hold('/slow-step', { status: 200, body: { answered: 'after SIGTERM' } });
    const { workflows } = services;
    const definition = {
      name: 'two steps',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: `${hooks.url}/slow-step`, timeoutMs: 30_000, next: 'done' },
        done: { type: 'transform', output: '{{steps.call.output.answered}}' },
      },
    };
    const workflowId = (await workflows.createWorkflow(orgId, definition)).workflow.id;

    gateway = await start(true);
    const child = gateway;
    const trigger = await triggerOn(child.url, workflowId);
    expect(trigger.body.errors).toBeUndefined();
    const { runId } = trigger.body.data.triggerWorkflow;
    await waitFor(async () => hooks.received.some((h) => h.path === '/slow-step'), Boolean, 30_000, 'the http step to be in flight');

    child.process.kill('SIGTERM');
    await shuttingDown(child);
    release();
    expect(await exitOf(child)).toBe(0);

    // The step that was running finished and was saved; the next one was not started.
    const [run] = await database.dataSource.query(`SELECT status, step_results, next_step FROM workflow_runs WHERE id = $1`, [runId]);
    expect(run.status).toBe('QUEUED');
    expect(run.next_step).toBe('done');
    expect(JSON.stringify(run.step_results.call)).toContain('after SIGTERM');
    expect(hooks.received.filter((h) => h.path === '/slow-step')).toHaveLength(1);
  });

  it('ends open subscriptions (close 1001) and answers requests waiting for a run, then exits 0', async () => {
    const { workflows } = services;
    const { workflow } = await workflows.createWorkflow(orgId, {
      name: 'never run',
      startStep: 'a',
      steps: { a: { type: 'transform', output: 1 } },
    });
    gateway = await start(false);
    const child = gateway;
    const trigger = await triggerOn(child.url, workflow.id);
    const { runId } = trigger.body.data.triggerWorkflow;
    const subscription = await collectSubscription(
      child.url,
      { 'api-key': apiKey },
      'subscription($id: ID!) { workflowRunUpdated(id: $id) { status } }',
      { id: runId },
    );
    await subscription.received(1);
    expect(subscription.results).toEqual([{ data: { workflowRunUpdated: { status: 'QUEUED' } } }]);
    // No worker: this request would wait its 30 s.
    const waiting = graphql(
      child.url,
      `
        mutation ($id: ID!) {
          triggerWorkflow(workflowId: $id, waitSeconds: 30) {
            run {
              status
            }
          }
        }
      `,
      { id: workflow.id },
      { apiKey },
    );
    await waitFor(
      async () =>
        (await database.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_id = $1`, [workflow.id]))[0].n === 2,
      Boolean,
      30_000,
      'the waiting run to be started',
    );

    child.process.kill('SIGTERM');
    const answered = await waiting;
    expect(answered.body).toEqual({ data: { triggerWorkflow: { run: { status: 'QUEUED' } } } });
    expect(await subscription.ended).toEqual({ closed: 1001, reason: 'Going away' });
    expect(await exitOf(child)).toBe(0);
  });
});
