import { ChildProcess, ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';

export { freePort } from '../../src/net/free-port';

export { isAlive, waitUntilGone } from '../../src/net/process-alive';

/** This checkout: where `bin/alloy.js` and the compiled code under `dist/` are. */
export const ROOT = path.resolve(__dirname, '..', '..');

/** Variables of the gateway's config (src/config/config.ts); child processes get none of the test runner's own. */
export const CONFIG_VARIABLES = [
  'PORT',
  'HOST',
  'DATABASE_URL',
  'ALLOY_DATA_DIR',
  'NODE_ENV',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'STORAGE_DRIVER',
  'STORAGE_DIR',
  'GCS_BUCKET',
  'STORAGE_EMULATOR_HOST',
  'MAX_UPLOAD_BYTES',
  'STORAGE_DELETION_DELAY_SECONDS',
  'URL_SIGNING_SECRET',
  'MAX_QUERY_DEPTH',
  'MAX_QUERY_COST',
  'MAX_ALIASES',
  'MAX_TOKENS',
  'MAX_DIRECTIVES',
  'MAX_JSON_BODY_BYTES',
  'RATE_LIMIT_STORE',
  'RATE_LIMIT_PER_MINUTE',
  'WORKFLOW_LEASE_SECONDS',
  'WORKFLOW_CONCURRENCY',
  'RUN_RETENTION_DAYS',
  'TEXT_EXTRACTION_MAX_BYTES',
  'CALLBACK_RETRY_DELAY_SECONDS',
];

/** process.env without the gateway's config variables, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete base[name];
  return { ...base, ...env };
}

const built = new Set<string>();

/**
 * The CLI runs the compiled code of `root`. `npm test` builds before jest runs; a single test file
 * run after editing src/ may not have, so the build runs here as `npm start` runs it (once per
 * process): tsc only when the sources changed since the last build.
 */
export function ensureBuiltCli(root = ROOT): void {
  if (built.has(root)) return;
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--if-changed'], { cwd: root, stdio: 'inherit' });
  built.add(root);
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** The whole environment of the child (default: the test runner's). */
  env?: NodeJS.ProcessEnv;
  /** A child that outlives it is killed (a hang is a failure: its result then has signal SIGKILL). */
  timeoutMs?: number;
}

/** Runs `command` to completion and gives its exit and output. */
export function runProcess(command: string, args: string[], options: RunOptions = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs a bash script in `cwd` with the given variables added to the test runner's; code 1 stands for a kill. */
export async function runBash(
  script: string,
  env: Record<string, string>,
  cwd: string = process.cwd(),
): Promise<{ stdout: string; stderr: string; code: number }> {
  const { stdout, stderr, code } = await runProcess('bash', ['-c', script], { cwd, env: { ...process.env, ...env } });
  return { stdout, stderr, code: code ?? 1 };
}

export type CliResult = ProcessResult;

export interface CliOptions {
  /** Another checkout (a clone) whose `bin/alloy.js` runs, in that directory. */
  root?: string;
  /** The directory it runs in (default: the checkout's root). */
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `node bin/alloy.js <args>` to completion, with only `env` of the gateway's variables; killed after 30 s. */
export function runCli(args: string[], env: Record<string, string>, options: CliOptions = {}): Promise<CliResult> {
  const root = options.root ?? ROOT;
  ensureBuiltCli(root);
  return runProcess(process.execPath, [path.join(root, 'bin', 'alloy.js'), ...args], {
    cwd: options.cwd ?? root,
    env: childEnv(env),
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

/** `alloy <args> --json`: its result and the one JSON object it printed on stdout. */
export async function runCliJson(
  args: string[],
  env: Record<string, string>,
  options: CliOptions = {},
): Promise<CliResult & { json: any }> {
  const result = await runCli([...args, '--json'], env, options);
  return { ...result, json: singleJsonObject(result.stdout) };
}

/** stdout of a `--json` command: exactly one JSON object on one line, nothing else. */
export function singleJsonObject(stdout: string): any {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1) throw new Error(`expected exactly one line of JSON on stdout, got ${lines.length}:\n${stdout}`);
  const value = JSON.parse(lines[0]);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`expected a JSON object on stdout, got: ${lines[0]}`);
  }
  return value;
}

export interface WatchedProcessOptions {
  cwd: string;
  /** The whole environment of the child. */
  env: NodeJS.ProcessEnv;
  /** A process group (and session) of its own, as a terminal gives each job it starts. */
  detached?: boolean;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A long-running child process whose output can be awaited. */
export class WatchedProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  /** stdout and stderr together, in the order they arrived. */
  output = '';
  /** The process has exited (output may still be arriving from children that share its streams). */
  readonly exited: Promise<Exit>;
  /** The process has exited and its output streams are closed: all its output is read. */
  readonly finished: Promise<Exit>;
  private waiters: Array<() => void> = [];
  /** Its output streams are closed: by the process and by any it started that shared them (npm's child). */
  private closed = false;

  constructor(command: string, args: string[], options: WatchedProcessOptions) {
    this.child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: options.detached ?? false });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => this.append('stdout', d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => this.append('stderr', d));
    this.finished = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal });
        this.notify();
      }),
    );
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
        this.notify();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `pattern` on stdout; rejects if the process exits first or time runs out. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        remove();
        reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match) {
          clearTimeout(timer);
          remove();
          resolve(match);
        } else if (this.closed) {
          clearTimeout(timer);
          remove();
          reject(
            new Error(
              `exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
            ),
          );
        }
      };
      const remove = () => (this.waiters = this.waiters.filter((w) => w !== check));
      this.waiters.push(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILLs after `timeoutMs` (and then rejects). */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<Exit> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`did not exit within ${timeoutMs} ms of ${signal}.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the child's whole process group (it must be `detached`), as Ctrl-C in a terminal does. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  private append(stream: 'stdout' | 'stderr', data: string) {
    this[stream] += data;
    this.output += data;
    this.notify();
  }

  private notify() {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A long-running `node bin/alloy.js <args>` of this checkout (or of `options.root`), with only `env` of the gateway's variables. */
export class CliProcess extends WatchedProcess {
  constructor(args: string[], env: Record<string, string>, options: { root?: string; detached?: boolean } = {}) {
    const root = options.root ?? ROOT;
    ensureBuiltCli(root);
    super(process.execPath, [path.join(root, 'bin', 'alloy.js'), ...args], { cwd: root, env: childEnv(env), detached: options.detached });
  }
}

/**
 * `alloy worker` as a process of its own on the test database (the compiled CLI), as on another
 * machine: it shares nothing with the test's gateway but the database. Resolves once it is taking runs.
 */
export async function startWorkerProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<CliProcess> {
  const worker = new CliProcess(['worker'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', NODE_ENV: 'test', ...env });
  await readyOrKilled(worker, /"msg":"worker started"/, 30_000);
  return worker;
}

/** The first match of `pattern` on the process's stdout; a process that does not get there is killed. */
async function readyOrKilled(started: WatchedProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  try {
    return await started.waitForOutput(pattern, timeoutMs);
  } catch (error) {
    if (started.running) started.child.kill('SIGKILL');
    throw error;
  }
}

export interface ChildGateway {
  url: string;
  process: ChildProcess;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  /** SIGTERM, then waits for the exit code (SIGKILL, and a failure, after 30 s). */
  stop(): Promise<number | null>;
}

/**
 * A second gateway in a process of its own, as production runs it (`node bin/alloy.js serve
 * --no-worker`, or `serve` with the workflow worker when `options.worker`), on `databaseUrl` and a free port.
 */
export async function startChildGateway(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: { worker?: boolean } = {},
): Promise<ChildGateway> {
  const child = new CliProcess(options.worker ? ['serve'] : ['serve', '--no-worker'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
    DATABASE_URL: databaseUrl,
    PORT: '0',
    HOST: '127.0.0.1',
  });
  const [, url] = await readyOrKilled(child, /Alloy gateway ready: (http:\/\/\S+)\/graphql/, 60_000);
  return {
    url,
    process: child.child,
    output: () => child.output,
    stop: async () => (await child.stop('SIGTERM', 30_000)).code,
  };
}
