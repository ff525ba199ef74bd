/**
 * `npm run bench`: the gateway against hand-written baselines, measured side by side in one run.
 *
 * Starts a fresh database on the local PostgreSQL, the gateway (`alloy serve`) in a child process
 * of its own, an organization made with the admin CLI, then runs each figure of bench/figures/.
 * A figure whose GraphQL fields are not in the schema yet reads "n/a (feature not built)".
 * Prints one table and rewrites the generated section of BENCHMARKS.md.
 *
 * Environment: BENCH_ONLY=id,id (run some figures), BENCH_DURATION (s per run, 5), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (20), BENCH_NO_WRITE=1 (leave BENCHMARKS.md alone), BENCH_CPU_PROF=<dir>
 * (profile the gateway with node --cpu-prof), BENCH_WORKER_CPU_PROF=<dir> (the same for the `alloy worker`
 * process), BENCH_TREE_FILES, BENCH_RUNS (smaller seeds).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BaselineName, BenchContext, Figure, FigureResult, NotApplicable } from './figures/figure';
import { figures } from './figures';
import { ChildServer, freePort, spawnServer, Unavailable } from './lib/child';
import { describeMachine } from './lib/machine';
import { createBenchDatabase, postgresVersion } from './lib/postgres';
import { renderRun, Row, textTable, writeBenchmarks } from './lib/report';
import { schemaFields } from './lib/schema';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'alloy.js');
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const run = promisify(execFile);

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function cli<T>(databaseUrl: string, args: string[]): Promise<T> {
  try {
    const { stdout } = await run(process.execPath, [BIN, ...args, '--json'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    });
    return JSON.parse(stdout) as T;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`alloy ${args.join(' ')}: ${e.stdout || e.stderr || e.message}`, { cause: error });
  }
}

function startGateway(databaseUrl: string, storageDir: string, port: number): Promise<ChildServer> {
  const prof = process.env.BENCH_CPU_PROF;
  return spawnServer({
    name: 'gateway',
    // The workflow worker runs as a process of its own (startWorker), as in a scaled deployment.
    args: [...(prof ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(prof)] : []), BIN, 'serve', '--no-worker'],
    env: {
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      STORAGE_DRIVER: 'disk',
      STORAGE_DIR: storageDir,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      ALLOY_DATA_DIR: path.dirname(storageDir),
      // One key sends thousands of requests a second; the limiter would refuse most of them.
      RATE_LIMIT_PER_MINUTE: '0',
    },
    ready: /Alloy gateway ready: (http:\/\/[^\s/]+)/,
  });
}

/** `alloy worker` on the bench database: executes the runs the figures trigger, and the storage jobs too. */
function startWorker(databaseUrl: string, storageDir: string): Promise<ChildServer> {
  const prof = process.env.BENCH_WORKER_CPU_PROF;
  return spawnServer({
    name: 'worker',
    args: [...(prof ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(prof)] : []), BIN, 'worker'],
    env: {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      STORAGE_DRIVER: 'disk',
      STORAGE_DIR: storageDir,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      ALLOY_DATA_DIR: path.dirname(storageDir),
      ...(process.env.WORKFLOW_CONCURRENCY ? { WORKFLOW_CONCURRENCY: process.env.WORKFLOW_CONCURRENCY } : {}),
    },
    ready: /"msg":"(worker started)"/,
  });
}

function startBaseline(name: BaselineName, databaseUrl: string, storageDir: string, env: Record<string, string>): Promise<ChildServer> {
  return spawnServer({
    name: `baseline ${name}`,
    args: [path.join(__dirname, 'baselines', `${name}.js`)],
    env: { DATABASE_URL: databaseUrl, PORT: '0', STORAGE_DIR: storageDir, MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), ...env },
    ready: /listening (http:\/\/\S+)/,
    unavailable: /unavailable: (.*)/,
  });
}

async function runFigure(figure: Figure, ctx: BenchContext, fields: Set<string>, started: ChildServer[]): Promise<FigureResult> {
  const missing = figure.requires.filter((f) => !fields.has(f));
  if (missing.length) {
    return {
      gateway: 'n/a (feature not built)',
      baseline: 'n/a',
      ratio: 'n/a',
      met: null,
      note: `${figure.id}: schema lacks ${missing.join(', ')}`,
    };
  }
  try {
    return await figure.run(ctx);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (error instanceof NotApplicable || error instanceof Unavailable) {
      return { gateway: 'n/a', baseline: 'n/a', ratio: 'n/a', met: null, note: `${figure.id}: ${message}` };
    }
    log(`${figure.id} failed: ${(error as Error).stack}`);
    return { gateway: 'error', baseline: '', ratio: '', met: false, note: `${figure.id}: failed: ${message}` };
  } finally {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  }
}

async function main() {
  const only = process.env.BENCH_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const selected = only ? figures.filter((f) => only.includes(f.id)) : figures;
  const duration = Number(process.env.BENCH_DURATION ?? 5);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
  const date = new Date();
  const machine = describeMachine(ROOT);
  const postgres = await postgresVersion();

  const database = await createBenchDatabase();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-bench-'));
  const storageDir = path.join(workDir, 'objects');
  const baselineDir = path.join(workDir, 'baseline-objects');
  let gateway: ChildServer | undefined;
  let worker: ChildServer | undefined;
  const baselines: ChildServer[] = [];
  try {
    log(`database ${database.name}; work dir ${workDir}`);
    const org = await cli<{ orgId: string; apiKey: string; keyId: string }>(database.url, ['org', 'create', 'bench']);
    gateway = await startGateway(database.url, storageDir, await freePort());
    log(`gateway ${gateway.url} (pid ${gateway.pid})`);
    worker = await startWorker(database.url, storageDir);
    log(`worker pid ${worker.pid}`);
    const fields = await schemaFields(gateway.url);
    const ctx: BenchContext = {
      gateway,
      worker,
      apiKey: org.apiKey,
      orgId: org.orgId,
      databaseUrl: database.url,
      storageDir,
      maxUploadBytes: MAX_UPLOAD_BYTES,
      duration,
      rounds,
      connections,
      async startBaseline(name, env = {}) {
        const server = await startBaseline(name, database.url, baselineDir, env);
        baselines.push(server);
        return server;
      },
      cli: (args) => cli(database.url, args),
      log,
    };
    const rows: Row[] = [];
    const notes: string[] = [];
    for (const figure of selected) {
      log(`figure ${figure.id} ...`);
      const t0 = Date.now();
      const result = await runFigure(figure, ctx, fields, baselines);
      log(`figure ${figure.id}: ${result.gateway} | ${result.baseline} | ${result.ratio} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      rows.push({
        figure: figure.title,
        gateway: result.gateway,
        baseline: result.baseline,
        ratio: result.ratio,
        target: figure.target,
        met: result.met === null ? 'n/a' : result.met ? 'yes' : 'no',
      });
      if (result.note) notes.push(result.note);
    }
    const settings = `${rounds} interleaved rounds of ${duration} s per side (median), ${connections} connections for req/s, gateway as "alloy serve --no-worker" with NODE_ENV=production LOG_LEVEL=warn RATE_LIMIT_PER_MINUTE=0 and one "alloy worker" process, disk storage, default deletion delay (60 s)`;
    process.stdout.write(`\n${textTable(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (!process.env.BENCH_NO_WRITE && !only) {
      writeBenchmarks(path.join(ROOT, 'BENCHMARKS.md'), renderRun(rows, notes, machine, postgres, date, settings));
      log('wrote BENCHMARKS.md');
    }
  } finally {
    await Promise.all(baselines.map((b) => b.stop()));
    await gateway?.stop();
    await worker?.stop();
    await database.drop().catch((error) => log(`could not drop ${database.name}: ${error}`));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  log((error as Error).stack ?? String(error));
  process.exit(1);
});
