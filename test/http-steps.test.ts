import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, ReceivedHook, startHookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { freePort, runCli, singleJsonObject, ROOT, WatchedProcess } from './support/process';
import { readmeExample } from './support/readme';
import { MAX_RESPONSE_BYTES } from '../src/workflows/steps/http';

/**
 * http steps as a target sees them: every request signed with the workflow's secret (printed once
 * by `alloy workflow create --json`, rotated by `alloy workflow rotate-secret`), checked by the
 * README's receiver; answers read as they stream and cut at 1 MB.
 */

const TRIGGER = `mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId } }`;
const RUN = `query($id: ID!) { workflowRun(id: $id) { status output error steps } }`;

/** `v1=` values of a header that verify against `secret` over `body`. */
function verifiedBy(header: string, body: string, secret: string): boolean[] {
  const fields = header.split(',').map((f) => f.split('='));
  const t = fields.find(([k]) => k === 't')![1];
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return fields.filter(([k]) => k === 'v1').map(([, v]) => v === expected);
}

describe('http steps: signed requests, streamed answers', () => {
  let hooks: HookServer;
  let dir: string;
  const { gw, org } = useGatewayWithOrg({ orgName: 'Http steps' });
  const cli = (...args: string[]) => runCli([...args, '--json'], { DATABASE_URL: gw.database.url, LOG_LEVEL: 'warn' });
  const createWorkflow = async (definition: unknown) => {
    const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(definition));
    const result = await cli('workflow', 'create', '--org', org.orgId, '--file', file);
    expect(result.code).toBe(0);
    return singleJsonObject(result.stdout) as { workflowId: string; signingSecret: string };
  };
  const run = async (workflowId: string, payload: unknown = { n: 1 }) => {
    const res = await graphql(gw.url, TRIGGER, { id: workflowId, payload }, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
    const runId = res.body.data.triggerWorkflow.runId as string;
    const done = await waitFor(
      async () => (await graphql(gw.url, RUN, { id: runId }, { apiKey: org.apiKey })).body.data.workflowRun,
      (r) => r.status === 'SUCCEEDED' || r.status === 'FAILED',
      60_000,
      `run ${runId}`,
    );
    return { runId, ...done };
  };
  const hookOf = (runId: string): ReceivedHook => hooks.received.filter((h) => h.body?.run?.id === runId).at(-1)!;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-http-steps-'));
    hooks = await startHookServer();
    hooks.route('/hook', () => ({ status: 200, body: { ok: true } }));
  });
  afterAll(async () => {
    await hooks?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('signs every request with the secret that workflow create printed: over the exact body, and fresh', async () => {
    const { workflowId, signingSecret } = await createWorkflow({
      name: 'signed',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/hook` } },
    });
    expect(signingSecret).toMatch(/^alloy_whsec_[A-Za-z0-9_-]{43}$/);
    const before = Math.floor(Date.now() / 1000);
    const done = await run(workflowId, { text: 'x\u0000y', order: { b: 1, a: 2 } });
    expect(done.status).toBe('SUCCEEDED');
    const hook = hookOf(done.runId);
    const header = String(hook.headers['alloy-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const t = Number(/^t=(\d+)/.exec(header)![1]);
    expect(t).toBeGreaterThanOrEqual(before - 1);
    expect(t).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    expect(verifiedBy(header, hook.raw, signingSecret)).toEqual([true]);
    // One byte of the body changed, and the signature no longer holds.
    expect(verifiedBy(header, hook.raw.replace('"b":1', '"b":2'), signingSecret)).toEqual([false]);
    // The secret is nowhere in the API: not a field of Workflow, not in any answer.
    const type = await graphql(gw.url, '{ __type(name: "Workflow") { fields { name } } }');
    expect(type.body.data.__type.fields.map((f: { name: string }) => f.name).join(' ')).not.toMatch(/secret|sign/i);
    const everything = await graphql(
      gw.url,
      `
        query ($id: ID!, $run: ID!) {
          workflow(id: $id) {
            id
            name
            definition
            startable
          }
          workflowRun(id: $run) {
            payload
            output
            steps
          }
        }
      `,
      { id: workflowId, run: done.runId },
      { apiKey: org.apiKey },
    );
    expect(JSON.stringify(everything.body)).not.toContain(signingSecret);
  });

  it("the README's receiver accepts Alloy's calls, and refuses them once the secret is rotated away", async () => {
    const port = await freePort();
    const { workflowId, signingSecret } = await createWorkflow({
      name: 'readme receiver',
      startStep: 'call',
      steps: { call: { type: 'http', url: `http://127.0.0.1:${port}/hook` } },
    });
    const script = path.join(dir, 'receiver.js');
    fs.writeFileSync(script, readmeExample('verify-signature', 'js'));
    const receiver = new WatchedProcess(process.execPath, [script], {
      cwd: ROOT,
      env: { ...process.env, SIGNING_SECRET: signingSecret, PORT: String(port) },
    });
    try {
      await receiver.waitForOutput(/receiver listening/, 30_000);
      const accepted = await run(workflowId);
      expect(accepted.status).toBe('SUCCEEDED');
      expect(accepted.output).toEqual({ verified: true });

      const rotated = await cli('workflow', 'rotate-secret', workflowId);
      expect(rotated.code).toBe(0);
      expect(singleJsonObject(rotated.stdout)).toEqual({
        workflowId,
        signingSecret: expect.stringMatching(/^alloy_whsec_/),
        previousValidUntil: null,
      });
      const refused = await run(workflowId);
      expect(refused.status).toBe('FAILED');
      expect(refused.error).toMatch(/answered HTTP 401/);
    } finally {
      receiver.child.kill();
    }
  });

  it('rotate-secret --keep-previous signs with both secrets until then, the new one first', async () => {
    const { workflowId, signingSecret: first } = await createWorkflow({
      name: 'rotating',
      startStep: 'call',
      steps: { call: { type: 'http', url: `${hooks.url}/hook` } },
    });
    const result = await cli('workflow', 'rotate-secret', workflowId, '--keep-previous', '600');
    const rotated = singleJsonObject(result.stdout);
    expect(rotated.signingSecret).not.toBe(first);
    const until = Date.parse(rotated.previousValidUntil);
    expect(until).toBeGreaterThan(Date.now() + 500_000);
    expect(until).toBeLessThan(Date.now() + 700_000);
    const done = await run(workflowId);
    const hook = hookOf(done.runId);
    const header = String(hook.headers['alloy-signature']);
    expect(verifiedBy(header, hook.raw, rotated.signingSecret)).toEqual([true, false]);
    expect(verifiedBy(header, hook.raw, first)).toEqual([false, true]);

    // Rotating again without --keep-previous: only the newest secret signs.
    const again = singleJsonObject((await cli('workflow', 'rotate-secret', workflowId)).stdout);
    const next = await run(workflowId);
    const nextHook = hookOf(next.runId);
    expect(verifiedBy(String(nextHook.headers['alloy-signature']), nextHook.raw, again.signingSecret)).toEqual([true]);
  });

  it.each([
    ['an unknown workflow', ['00000000-0000-4000-8000-000000000000'], 'WORKFLOW_NOT_FOUND'],
    ['a malformed workflow id', ['nope'], 'WORKFLOW_NOT_FOUND'],
    ['a negative --keep-previous', ['00000000-0000-4000-8000-000000000000', '--keep-previous', '-5'], 'BAD_USER_INPUT'],
    ['a --keep-previous over 7 days', ['00000000-0000-4000-8000-000000000000', '--keep-previous', '604801'], 'BAD_USER_INPUT'],
  ])('rotate-secret refuses %s with one JSON error', async (_label, args, code) => {
    const result = await cli('workflow', 'rotate-secret', ...args);
    expect(result.code).toBe(1);
    expect(singleJsonObject(result.stdout).error.code).toBe(code);
  });

  describe('answers read as they stream', () => {
    let server: http.Server;
    let url: string;
    let written = 0;
    let closed = false;
    let acceptEncoding: string | string[] | undefined = 'not asked yet';

    beforeAll(async () => {
      server = http.createServer((req, res) => {
        req.resume();
        if (req.url === '/endless') {
          // Writes for as long as the client reads; stops only when the connection closes.
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(64 * 1024, 'a');
          const pump = () => {
            while (!res.destroyed && res.write(chunk)) written += chunk.length;
            if (!res.destroyed) res.once('drain', () => ((written += chunk.length), pump()));
          };
          res.once('close', () => (closed = true));
          pump();
        } else if (req.url === '/exact') {
          const text = JSON.stringify({ pad: 'p'.repeat(MAX_RESPONSE_BYTES - 10) });
          res.writeHead(200, { 'content-type': 'application/json' }).end(text);
        } else if (req.url === '/gzip') {
          // Compressed although the request asked for no encoding (some servers always compress).
          acceptEncoding = req.headers['accept-encoding'];
          res
            .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
            .end(gzipSync(JSON.stringify({ zipped: 'z'.repeat(1000) })));
        } else if (req.url === '/one-more') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pad: 'p'.repeat(MAX_RESPONSE_BYTES - 9) }));
        } else {
          res.writeHead(500, { 'content-type': 'text/plain' }).end('broken\u0000body');
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('stops reading an endless answer at 1 MB, keeps that 1 MB as text and closes the connection', async () => {
      const { workflowId } = await createWorkflow({
        name: 'endless',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${url}/endless`, timeoutMs: 60_000 } },
      });
      const done = await run(workflowId);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.steps.call.truncated).toBe(true);
      expect(done.steps.call.output).toBe('a'.repeat(MAX_RESPONSE_BYTES));
      await waitFor(
        async () => closed,
        (c) => c,
        10_000,
        'the endless answer to be cut off',
      );
      // Only what the socket buffers took beyond the first 1 MB was ever written.
      expect(written).toBeLessThan(32 * MAX_RESPONSE_BYTES);
    });

    it('keeps an answer of exactly 1 MB whole (parsed JSON), and cuts one byte more', async () => {
      const { workflowId: exact } = await createWorkflow({
        name: 'exact',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${url}/exact` } },
      });
      const whole = await run(exact);
      expect(whole.steps.call.truncated).toBeUndefined();
      expect(whole.steps.call.output.pad).toHaveLength(MAX_RESPONSE_BYTES - 10);
      const { workflowId: over } = await createWorkflow({
        name: 'over',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${url}/one-more` } },
      });
      const cut = await run(over);
      expect(cut.steps.call.truncated).toBe(true);
      expect(cut.steps.call.output).toHaveLength(MAX_RESPONSE_BYTES);
    });

    it('asks for no encoding, and decodes an answer its target compressed anyway', async () => {
      const { workflowId } = await createWorkflow({
        name: 'gzip',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${url}/gzip` } },
      });
      const done = await run(workflowId);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.steps.call.output).toEqual({ zipped: 'z'.repeat(1000) });
      expect(acceptEncoding).toBeUndefined();
    });

    it('fails a run whose target answers an error with a NUL in its body, keeping the NUL visible in the error', async () => {
      const { workflowId } = await createWorkflow({
        name: 'nul answer',
        startStep: 'call',
        steps: { call: { type: 'http', url: `${url}/nul` } },
      });
      const done = await run(workflowId);
      expect(done.status).toBe('FAILED');
      expect(done.error).toContain('answered HTTP 500: broken\\u0000body');
      expect(done.steps.call.output).toBe('broken\u0000body');
    });
  });
});
