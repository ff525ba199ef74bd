import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'alloy.js');
const BUILT_ENTRY = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Variables of the gateway's config; child processes get none of the test runner's own. */
export const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'DATABASE_URL', 'STORAGE_DRIVER', 'STORAGE_DIR', 'GCS_BUCKET', 'STORAGE_EMULATOR_HOST',
  'MAX_UPLOAD_BYTES', 'LOG_LEVEL', 'NODE_ENV', 'URL_SIGNING_SECRET', 'ALLOY_DATA_DIR',
];

/** The CLI runs the compiled code: fail with a clear message rather than a confusing one when it is missing. */
export function requireBuiltCli(): void {
  if (!fs.existsSync(BUILT_ENTRY)) {
    throw new Error(`${path.relative(ROOT, BUILT_ENTRY)} is missing: run \`npm run build\` first (\`npm test\` builds before running jest)`);
  }
}

/** process.env without the gateway's config variables, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete base[name];
  return { ...base, ...env };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/alloy.js <args>` to completion; kills it if it outlives `timeoutMs` (a hang is a failure). */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
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
