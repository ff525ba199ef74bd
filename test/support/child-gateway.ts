import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const READY = /Alloy gateway ready: (http:\/\/\S+)\/graphql/;

export interface ChildGateway {
  url: string;
  process: ChildProcess;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** `npm test` builds before jest runs; a single test file run after editing src/ may not have. */
function ensureBuilt(): void {
  const entry = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
  if (fs.existsSync(entry) && fs.statSync(entry).mtimeMs >= newestSource(path.join(ROOT, 'src'))) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/**
 * A second gateway in a process of its own, as production runs it (`node bin/alloy.js serve
 * --no-worker`, or `serve` with the workflow worker when `options.worker`; the compiled code: `npm test` builds it first), on `databaseUrl` and a free port.
 */
export async function startChildGateway(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: { worker?: boolean } = {},
): Promise<ChildGateway> {
  ensureBuilt();
  const args = options.worker ? ['serve'] : ['serve', '--no-worker'];
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'alloy.js'), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '0',
      ...env,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = READY.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`child gateway exited with ${code} before it was ready:\n${output}`)));
  });
  return {
    url,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
