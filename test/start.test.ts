import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { graphql } from './support/http';
import { CliProcess, freePort, isAlive, ROOT, waitUntilGone } from './support/process';

/**
 * `alloy serve` (what `npm start` runs) with no DATABASE_URL: the embedded PostgreSQL server,
 * first-start organization, clean shutdown on SIGTERM, and a second start on the same data.
 */
const DATA_DIR = path.join(ROOT, 'test', '.tmp', `start-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
const START_TIMEOUT = 150_000;
const STOP_TIMEOUT = 60_000;

const processes: CliProcess[] = [];
const postgresPids = new Set<number>();

function serve(port: number): CliProcess {
  const child = new CliProcess(['serve'], { PORT: String(port), ALLOY_DATA_DIR: DATA_DIR, LOG_LEVEL: 'info' });
  processes.push(child);
  return child;
}

/** The embedded server's postmaster pid, from its pid file. */
function postmasterPid(): number {
  const pid = Number(fs.readFileSync(path.join(DATA_DIR, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  postgresPids.add(pid);
  return pid;
}

afterAll(async () => {
  // Only after a failure is anything left; stop it by pid so no stray server outlives the run.
  for (const child of processes) if (child.running) await child.stop('SIGKILL', 10_000).catch(() => undefined);
  for (const pid of postgresPids) if (isAlive(pid)) process.kill(pid, 'SIGQUIT');
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
}, 30_000);

describe('alloy serve with the embedded database', () => {
  let url: string;
  let apiKey: string;
  let orgId: string;

  it(
    'first start: creates an organization, prints its key once, and answers with it',
    async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const first = serve(port);
      [, apiKey] = await first.waitForOutput(/^API key: (\S+)$/m, START_TIMEOUT);
      await first.waitForOutput(/"msg":"listening"/, 10_000);
      expect(first.stdout).toContain(`Alloy gateway ready: ${url}/graphql`);
      expect(first.stdout.match(/API key: /g)).toHaveLength(1);
      expect(fs.existsSync(path.join(DATA_DIR, 'postgres', 'PG_VERSION'))).toBe(true);

      const res = await graphql(url, '{ organization { id name } }', {}, { apiKey });
      expect(res.status).toBe(200);
      expect(res.body.data?.organization.name).toBe('My organization');
      orgId = res.body.data!.organization.id;

      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true, checks: { database: { ok: true } } });

      const pgPid = postmasterPid();
      expect(isAlive(pgPid)).toBe(true);
      const exit = await first.stop('SIGTERM', STOP_TIMEOUT);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(await waitUntilGone(pgPid, 10_000)).toBe(true);
      expect(fs.existsSync(path.join(DATA_DIR, 'postgres', 'postmaster.pid'))).toBe(false);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );

  it(
    'second start: reuses the data, creates nothing, and the first key still works',
    async () => {
      expect(apiKey).toBeDefined();
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const second = serve(port);
      await second.waitForOutput(/"msg":"listening"/, START_TIMEOUT);
      expect(second.stdout).not.toContain('API key:');
      expect(second.stdout).not.toContain('Created organization');

      const res = await graphql(url, '{ organization { id name } }', {}, { apiKey });
      expect(res.status).toBe(200);
      expect(res.body.data?.organization).toEqual({ id: orgId, name: 'My organization' });

      // Count through the running embedded server, whose URL the gateway keeps in its lock for the CLI.
      const embeddedUrl = JSON.parse(fs.readFileSync(path.join(DATA_DIR, 'alloy.lock'), 'utf8')).databaseUrl;
      const client = new Client({ connectionString: embeddedUrl });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT id FROM organizations');
        expect(rows).toEqual([{ id: orgId }]);
      } finally {
        await client.end();
      }

      const pgPid = postmasterPid();
      const exit = await second.stop('SIGTERM', STOP_TIMEOUT);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(await waitUntilGone(pgPid, 10_000)).toBe(true);
    },
    START_TIMEOUT + STOP_TIMEOUT,
  );
});
