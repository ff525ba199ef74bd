import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makePrivateClone, npmStart, PrivateClone } from './support/clone';
import { graphql } from './support/http';
import { startHookServer, HookServer } from './support/hook-server';
import { waitFor } from './support/poll';
import { CliProcess, freePort, isAlive, runCliJson, waitUntilGone, WatchedProcess } from './support/process';
import { SHARED_BINARIES_DIR } from '../src/db/embedded/postgres-binaries';

/**
 * `npm start` as people run it: in a fresh clone inside a directory no other user may enter (a
 * `mktemp -d`; as root, PostgreSQL has to run as another user, who cannot enter it), in a process
 * group of its own as a terminal runs a job, stopped with Ctrl-C (SIGINT to that whole group),
 * started twice by mistake. Tests run as root here; as any other user the same assertions hold for
 * that user (PostgreSQL then runs as the user itself).
 */

const START_TIMEOUT = 300_000; // prestart compiles the clone with tsc first
const STOP_TIMEOUT = 90_000;
const AS_ROOT = process.getuid?.() === 0;
/** The uid the embedded PostgreSQL must run as: the postgres user for root, else this user. */
const POSTGRES_UID = AS_ROOT ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()) : process.getuid!();

let clone: PrivateClone;
let hooks: HookServer;
const started: WatchedProcess[] = [];

const dataDir = () => path.join(clone.dir, '.data');
const lockOf = () =>
  JSON.parse(fs.readFileSync(path.join(dataDir(), 'alloy.lock'), 'utf8')) as { pid: number; gatewayUrl?: string; databaseUrl?: string };
const postmasterPid = () => Number(fs.readFileSync(path.join(dataDir(), 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
/** Field `name` of /proc/<pid>/status, e.g. the real uid. */
const procStatus = (pid: number, name: string) =>
  new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
/** The process group of a pid (field 5 of /proc/<pid>/stat). */
const processGroup = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]);

function start(port: number, env: Record<string, string> = {}): WatchedProcess {
  const child = npmStart(clone.dir, { PORT: String(port), LOG_LEVEL: 'info', ...env });
  started.push(child);
  return child;
}

/** What the gateway itself wrote: npm's own lines (`> alloy-gateway@… start`, `npm error …`) left out. */
const ownLines = (output: string) =>
  output
    .split('\n')
    .filter(
      (line) =>
        line.trim() !== '' && !line.startsWith('> ') && !/^npm (error|ERR!|notice|warn)/.test(line) && !/^\s*(tsc|node) /.test(line),
    );

/** Lines that report an error: pino's error and fatal levels, PostgreSQL's complaints, Node's stacks. */
const errorLines = (output: string) =>
  ownLines(output).filter(
    (line) => /"level":(50|60)/.test(line) || /\bERROR:|FATAL:|terminating connection|ECONNREFUSED|Unhandled|^\s+at /.test(line),
  );

beforeAll(async () => {
  clone = makePrivateClone('npm-start');
  hooks = await startHookServer();
});

afterAll(async () => {
  for (const child of started) if (child.running) child.signalGroup('SIGKILL');
  const pidFile = path.join(dataDir(), 'postgres', 'postmaster.pid');
  if (fs.existsSync(pidFile) && isAlive(postmasterPid())) process.kill(postmasterPid(), 'SIGQUIT');
  await hooks?.close();
  clone?.remove();
}, 60_000);

describe(`npm start in a clone no other user may enter (running as ${AS_ROOT ? 'root' : `uid ${process.getuid?.()}`})`, () => {
  let url: string;
  let apiKey: string;
  let orgId: string;
  let first: WatchedProcess;
  let workflowId: string;
  let runId: string;

  it(
    'starts, creates an organization and prints its key once, with PostgreSQL as the right user',
    async () => {
      expect(fs.statSync(clone.dir).mode & 0o777).toBe(0o700);
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      first = start(port);
      [, apiKey] = await first.waitForOutput(/^API key: (\S+)$/m, START_TIMEOUT);
      await first.waitForOutput(/"msg":"listening"/, 30_000);
      expect(first.stdout.match(/API key: /g)).toHaveLength(1);
      const res = await graphql(url, '{ organization { id name } }', {}, { apiKey });
      expect(res.body.data.organization.name).toBe('My organization');
      orgId = res.body.data.organization.id;

      // The cluster lives in the clone, owned by the user PostgreSQL runs as, and so does its server.
      const pg = postmasterPid();
      expect(fs.statSync(path.join(dataDir(), 'postgres')).uid).toBe(POSTGRES_UID);
      expect(procStatus(pg, 'Uid')).toBe(String(POSTGRES_UID));
      const executable = fs.readlinkSync(`/proc/${pg}/exe`);
      // As root, the postgres user cannot reach the clone's copy of the binaries: they run from the shared copy.
      if (AS_ROOT) expect(executable.startsWith(SHARED_BINARIES_DIR)).toBe(true);
      else expect(executable.startsWith(clone.dir)).toBe(true);
      // It runs in a process group (and session) of its own: Ctrl-C in the terminal never reaches it.
      expect(processGroup(pg)).not.toBe(first.pid);
      // Its password is random and, with the URL in the lock, readable by its owner only.
      expect(fs.statSync(path.join(dataDir(), 'embedded-postgres.password')).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.join(dataDir(), 'alloy.lock')).mode & 0o777).toBe(0o600);
      expect(lockOf().databaseUrl).not.toContain('alloy-embedded');
      expect(errorLines(first.output)).toEqual([]);
    },
    START_TIMEOUT + 60_000,
  );

  it(
    'a second npm start on the same data directory stops with one line naming the running one (port, pid), exit 1',
    async () => {
      const running = lockOf();
      const second = start(await freePort());
      const exit = await second.exited;
      expect(exit.code).toBe(1);
      const lines = ownLines(second.output);
      expect(lines).toEqual([
        `alloy: The data directory .data is in use by an Alloy gateway (pid ${running.pid}, ${url}/graphql). ` +
          `Stop that one first (Ctrl-C in its terminal, or kill ${running.pid}), or set ALLOY_DATA_DIR to another directory`,
      ]);
      // The first one is untouched, and still serves.
      expect(lockOf().pid).toBe(running.pid);
      expect((await graphql(url, '{ organization { id } }', {}, { apiKey })).body.data.organization.id).toBe(orgId);
    },
    START_TIMEOUT,
  );

  it(
    'Ctrl-C while an http step runs: the step finishes and is handed back, then the database stops; no error lines',
    async () => {
      const { release } = hooks.hold('/slow', { status: 200, body: { answered: 'after Ctrl-C' } });
      const definition = path.join(clone.dir, 'slow.json');
      fs.writeFileSync(
        definition,
        JSON.stringify({
          name: 'slow',
          startStep: 'call',
          steps: {
            call: { type: 'http', url: `${hooks.url}/slow`, timeoutMs: 60_000, next: 'shape' },
            shape: { type: 'transform', output: { got: '{{steps.call.output.answered}}' } },
          },
        }),
      );
      // The admin CLI of the clone uses the running gateway's embedded database.
      const created = await runCliJson(['workflow', 'create', '--org', orgId, '--file', definition], {}, { root: clone.dir });
      workflowId = created.json.workflowId;
      const trigger = await graphql(
        url,
        'mutation($id: ID!) { triggerWorkflow(workflowId: $id) { runId } }',
        { id: workflowId },
        { apiKey },
      );
      runId = trigger.body.data.triggerWorkflow.runId;
      await waitFor(
        async () => hooks.received.filter((h) => h.path === '/slow').length,
        (n) => n === 1,
        60_000,
        'the http step to be in flight',
      );

      const pg = postmasterPid();
      const gatewayPid = lockOf().pid;
      first.signalGroup('SIGINT');
      await first.waitForOutput(/"msg":"shutting down"/, 30_000);
      // The terminal's signal did not reach the database: it is still up while the step runs.
      await new Promise((r) => setTimeout(r, 500));
      expect(isAlive(pg)).toBe(true);
      release();
      await first.exited;
      expect(await waitUntilGone(gatewayPid, STOP_TIMEOUT)).toBe(true);
      expect(await waitUntilGone(pg, STOP_TIMEOUT)).toBe(true);
      // npm ends once its child has; the gateway's own last line says it stopped in order.
      await first.waitForOutput(/"msg":"shutting down"[\s\S]*"msg":"stopped"/, 10_000);
      expect(errorLines(first.output)).toEqual([]);
      expect(fs.existsSync(path.join(dataDir(), 'alloy.lock'))).toBe(false);
    },
    STOP_TIMEOUT + 60_000,
  );

  it(
    'started again, the run finishes, and the step that had finished is not run again',
    async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const again = start(port);
      await again.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      expect(again.stdout).not.toContain('API key:');
      const run = await waitFor(
        async () =>
          (await graphql(url, 'query($id: ID!) { workflowRun(id: $id) { status output steps } }', { id: runId }, { apiKey })).body.data
            ?.workflowRun,
        (r) => r?.status === 'SUCCEEDED' || r?.status === 'FAILED',
        120_000,
        `run ${runId} to finish after the restart`,
      );
      expect(run.status).toBe('SUCCEEDED');
      expect(run.output).toEqual({ got: 'after Ctrl-C' });
      expect(hooks.received.filter((h) => h.path === '/slow')).toHaveLength(1);

      const gatewayPid = lockOf().pid;
      again.signalGroup('SIGTERM');
      expect(await waitUntilGone(gatewayPid, STOP_TIMEOUT)).toBe(true);
      await again.waitForOutput(/"msg":"stopped"/, 10_000);
      expect(errorLines(again.output)).toEqual([]);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    '`alloy serve` (what npm start runs) exits 0 on Ctrl-C to its process group',
    async () => {
      const port = await freePort();
      const serve = new CliProcess(['serve'], { PORT: String(port), LOG_LEVEL: 'info' }, { root: clone.dir, detached: true });
      started.push(serve);
      await serve.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      const pg = postmasterPid();
      serve.signalGroup('SIGINT');
      expect(await serve.exited).toEqual({ code: 0, signal: null });
      expect(await waitUntilGone(pg, STOP_TIMEOUT)).toBe(true);
      expect(errorLines(serve.output)).toEqual([]);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    'after a gateway killed outright (SIGKILL), the next start stops the database it left running and serves',
    async () => {
      const serveOn = async () => {
        const child = new CliProcess(['serve'], { PORT: String(await freePort()), LOG_LEVEL: 'info' }, { root: clone.dir, detached: true });
        started.push(child);
        return child;
      };
      const killed = await serveOn();
      await killed.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      const leftover = postmasterPid();
      killed.signalGroup('SIGKILL');
      await killed.exited;
      expect(isAlive(leftover)).toBe(true); // in its own session, the kill did not reach it

      const next = await serveOn();
      const [, nextUrl] = await next.waitForOutput(/Alloy gateway ready: (\S+)\/graphql/, START_TIMEOUT);
      expect(next.stdout).toMatch(/stopping the PostgreSQL server that an Alloy process which ended without stopping it left running/);
      expect(isAlive(leftover)).toBe(false);
      expect((await graphql(nextUrl, '{ organization { id } }', {}, { apiKey })).body.data.organization.id).toBe(orgId);
      next.signalGroup('SIGTERM');
      expect(await next.exited).toEqual({ code: 0, signal: null });
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it.each([
    [
      'its port is taken',
      async (port: number) => ({ PORT: String(port) }),
      /^alloy: Port \d+ on 127\.0\.0\.1 is in use by another program: stop it, or set PORT to another port$/,
    ],
    [
      'its data directory is a file',
      async () => ({ PORT: '0', ALLOY_DATA_DIR: 'package.json' }),
      /^alloy: The data directory package\.json cannot be used \((EEXIST|ENOTDIR): a file is in the way\): set ALLOY_DATA_DIR/,
    ],
    ['a variable is malformed', async () => ({ PORT: 'eighty' }), /^alloy: Invalid PORT: expected a whole number, got "eighty"$/],
  ])(
    'fails to start with one line and exit 1, leaving nothing running, when %s',
    async (_label, envFor, line) => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      try {
        const env = await envFor((blocker.address() as net.AddressInfo).port);
        const failing = new CliProcess(['serve'], { LOG_LEVEL: 'warn', ...env }, { root: clone.dir, detached: true });
        started.push(failing);
        expect((await failing.exited).code).toBe(1);
        expect(ownLines(failing.output)).toEqual([expect.stringMatching(line)]);
        // Whatever it had started (the embedded database) is stopped again, and the lock let go.
        const pidFile = path.join(dataDir(), 'postgres', 'postmaster.pid');
        if (fs.existsSync(pidFile)) expect(await waitUntilGone(postmasterPid(), 10_000)).toBe(true);
        expect(fs.existsSync(path.join(dataDir(), 'alloy.lock'))).toBe(false);
      } finally {
        blocker.close();
      }
    },
    START_TIMEOUT,
  );
});
