import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from '../../src/net/free-port';

export { freePort };

export interface ChildServer {
  name: string;
  url: string;
  pid: number;
  process: ChildProcess;
  /** Current and peak resident set size in bytes, from /proc/<pid>/status. */
  memory(): { rss: number; hwm: number };
  /** Resets the kernel's peak-RSS counter (VmHWM) of the process. */
  resetPeak(): boolean;
  /** User + system CPU time the process has used so far, in ms (from /proc/<pid>/stat). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export function readMemory(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export function readCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

export interface SpawnOptions {
  name: string;
  args: string[];
  env: Record<string, string>;
  /** A stdout line that means "ready"; its first capture group is the URL. */
  ready: RegExp;
  /** A stdout line that means "cannot run here" (e.g. a baseline whose tables are missing). */
  unavailable?: RegExp;
  timeoutMs?: number;
}

export class Unavailable extends Error {}

/**
 * Starts a server in a child process of its own (so the load generator never shares its event
 * loop) and waits for its ready line.
 */
export function spawnServer(options: SpawnOptions): Promise<ChildServer> {
  const child = spawn(process.execPath, options.args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${options.name} did not start in time:\n${output.slice(-2000)}`)),
      options.timeoutMs ?? 60_000,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const unavailable = options.unavailable?.exec(output);
      if (unavailable) return fail(new Unavailable(unavailable[1] ?? 'unavailable'));
      const match = options.ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      // Keep draining the pipes so a chatty child never blocks on a full pipe.
      child.stdout!.resume();
      resolve(server(options.name, match[1], child));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 100_000) output = output.slice(-20_000);
    });
    child.once('exit', (code) => fail(new Error(`${options.name} exited (${code}) before it was ready:\n${output.slice(-2000)}`)));
  });
}

function server(name: string, url: string, child: ChildProcess): ChildServer {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    url,
    pid: child.pid!,
    process: child,
    memory: () => readMemory(child.pid!),
    cpuMs: () => readCpuMs(child.pid!),
    resetPeak() {
      try {
        fs.writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
