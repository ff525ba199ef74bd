import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makePrivateClone, npmStart, PrivateClone } from './support/clone';
import { graphql } from './support/http';
import { childEnv, freePort, isAlive, waitUntilGone, WatchedProcess } from './support/process';

/**
 * `npm start` in a fresh clone as a newcomer meets it: on a terminal (a pseudo-terminal made by
 * `script`) the logs are short lines for people; a second start of the unchanged checkout does not
 * compile again, and says which organization there is and how to get it a new key; a changed
 * source is compiled; a port in use is found before any database is made.
 */

const START_TIMEOUT = 300_000; // the first start compiles the clone
const STOP_TIMEOUT = 60_000;

let clone: PrivateClone;
const started: WatchedProcess[] = [];

const dataDir = () => path.join(clone.dir, '.data');
const lockOf = () => JSON.parse(fs.readFileSync(path.join(dataDir(), 'alloy.lock'), 'utf8')) as { pid: number };
const postmasterPid = () => Number(fs.readFileSync(path.join(dataDir(), 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
const builtEntry = () => path.join(clone.dir, 'dist', 'src', 'cli', 'main.js');

/** `npm start` with a terminal for its output, as in a shell window (`script` gives it a pty). */
function npmStartOnTerminal(env: Record<string, string>): WatchedProcess {
  const child = new WatchedProcess('script', ['-qfec', 'npm start', '/dev/null'], {
    cwd: clone.dir,
    env: { ...childEnv(env), npm_config_update_notifier: 'false', npm_config_fund: 'false' },
    detached: true,
  });
  started.push(child);
  return child;
}

function start(env: Record<string, string>): WatchedProcess {
  const child = npmStart(clone.dir, env);
  started.push(child);
  return child;
}

/** Stops the running gateway by the pid in its lock, and waits for it and its database to be gone. */
async function stopGateway(): Promise<void> {
  if (!fs.existsSync(path.join(dataDir(), 'alloy.lock'))) return;
  const pg = postmasterPid();
  const { pid } = lockOf();
  process.kill(pid, 'SIGTERM');
  expect(await waitUntilGone(pid, STOP_TIMEOUT)).toBe(true);
  expect(await waitUntilGone(pg, STOP_TIMEOUT)).toBe(true);
}

/** The gateway's own lines of a pty's output (`\r\n` endings), npm's `> …` lines and its spinner left out. */
const terminalLines = (output: string) =>
  output
    // eslint-disable-next-line no-control-regex
    .replace(/\r|\u001b\[[0-9;]*[A-Za-z]|[\u2800-\u28ff]/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('> '));

beforeAll(() => {
  clone = makePrivateClone('newcomer');
});

afterAll(async () => {
  for (const child of started) if (child.running) child.signalGroup('SIGKILL');
  const pidFile = path.join(dataDir(), 'postgres', 'postmaster.pid');
  if (fs.existsSync(pidFile) && isAlive(postmasterPid())) process.kill(postmasterPid(), 'SIGQUIT');
  clone?.remove();
}, 60_000);

describe('npm start, as a newcomer meets it', () => {
  // Each test leaves nothing running, also when it fails half-way.
  afterEach(() => stopGateway(), STOP_TIMEOUT);
  let orgId: string;
  let apiKey: string;

  it(
    'on a terminal: ready with a key, and the logs are short readable lines, not JSON',
    async () => {
      const port = await freePort();
      const first = npmStartOnTerminal({ PORT: String(port), LOG_LEVEL: 'info' });
      [, apiKey] = await first.waitForOutput(/^API key: (\S+?)\r?$/m, START_TIMEOUT);
      await first.waitForOutput(/ info +listening +url=/, 30_000);
      orgId = (await graphql(`http://127.0.0.1:${port}`, '{ organization { id } }', {}, { apiKey })).body.data.organization.id;
      const lines = terminalLines(first.stdout);
      expect(lines.filter((line) => line.includes('{"level"'))).toEqual([]);
      expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d info +migrations applied +migrations=/));
      expect(lines.filter((line) => line.length > 160)).toEqual([]);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    'a second start of the unchanged checkout compiles nothing, and names the organization and how to make it a new key',
    async () => {
      const built = fs.statSync(builtEntry()).mtimeMs;
      const port = await freePort();
      const second = start({ PORT: String(port), LOG_LEVEL: 'info' });
      await second.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      expect(fs.statSync(builtEntry()).mtimeMs).toBe(built);
      expect(second.stdout).not.toContain('API key:');
      expect(second.stdout).toContain(
        `Organization ${orgId} ("My organization"). Lost its API key? Make a new one: npx --no -- alloy key create --org ${orgId}`,
      );

      // Started again by mistake on the same port: the running gateway is named, not only the port.
      const again = start({ PORT: String(port), LOG_LEVEL: 'info' });
      expect((await again.exited).code).toBe(1);
      expect(again.output).toMatch(/^alloy: The data directory \.data is in use by an Alloy gateway \(pid \d+, /m);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    'a changed source is compiled before the next start; LOG_FORMAT=json keeps JSON on a terminal',
    async () => {
      const source = path.join(clone.dir, 'src', 'app', 'run.ts');
      fs.writeFileSync(source, fs.readFileSync(source, 'utf8').replace('Playground: open', 'Playground: visit'));
      const port = await freePort();
      const changed = npmStartOnTerminal({ PORT: String(port), LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
      await changed.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      expect(changed.stdout).toContain(`Playground: visit http://127.0.0.1:${port}/graphql in a browser`);
      expect(changed.stdout).toMatch(/^\{"level":30,"time":\d+,"migrations":\[|^\{"level":30,"time":\d+,"url":/m);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    'a port in use is found before any database is made: one line, exit 1, no data directory',
    async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      try {
        const port = (blocker.address() as net.AddressInfo).port;
        const failing = start({ PORT: String(port), ALLOY_DATA_DIR: 'fresh-data' });
        expect((await failing.exited).code).toBe(1);
        expect(failing.output).toMatch(
          new RegExp(`^alloy: Port ${port} on 127\\.0\\.0\\.1 is in use by another program: stop it, or set PORT to another port$`, 'm'),
        );
        expect(fs.existsSync(path.join(clone.dir, 'fresh-data'))).toBe(false);
      } finally {
        blocker.close();
      }
    },
    START_TIMEOUT,
  );
});
