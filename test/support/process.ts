import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { CLI, ROOT, childEnv } from './cli';

export { freePort } from '../../src/net/free-port';

export { isAlive, waitUntilGone } from '../../src/net/process-alive';

export interface WatchedProcessOptions {
  cwd: string;
  /** The whole environment of the child. */
  env: NodeJS.ProcessEnv;
  /** A process group (and session) of its own, as a terminal gives each job it starts. */
  detached?: boolean;
}

/** A long-running child process whose output can be awaited. */
export class WatchedProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  /** stdout and stderr together, in the order they arrived. */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];
  /** Its output streams are closed: by the process and by any it started that shared them (npm's child). */
  private closed = false;

  constructor(command: string, args: string[], options: WatchedProcessOptions) {
    this.child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: options.detached ?? false });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => this.append('stdout', d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => this.append('stderr', d));
    this.child.once('close', () => {
      this.closed = true;
      this.notify();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      resolve({ code, signal });
      this.notify();
    }));
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
          reject(new Error(`exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
        }
      };
      const remove = () => (this.waiters = this.waiters.filter((w) => w !== check));
      this.waiters.push(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILLs after `timeoutMs` (and then rejects). */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
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

/** A long-running `node bin/alloy.js <args>` of this checkout. */
export class CliProcess extends WatchedProcess {
  constructor(args: string[], env: Record<string, string>) {
    super(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env) });
  }
}
