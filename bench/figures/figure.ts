import type { ChildServer } from '../lib/child';
import { load, LoadResult, MeasuredProcess } from '../lib/load';

export type BaselineName = 'auth-json' | 'folder-listing' | 'upload-to-disk' | 'workflow-run-insert';

export interface BenchContext {
  /** `alloy serve --no-worker`. */
  gateway: ChildServer;
  /** One `alloy worker` process on the same database. */
  worker: ChildServer;
  apiKey: string;
  orgId: string;
  databaseUrl: string;
  /** The gateway's STORAGE_DIR (disk driver). */
  storageDir: string;
  maxUploadBytes: number;
  /** Seconds per measured run and number of gateway/baseline rounds (BENCH_DURATION, BENCH_ROUNDS). */
  duration: number;
  rounds: number;
  /** Connections for the req/s figures. */
  connections: number;
  /** Starts a baseline server in its own child process; stopped by the runner after the figure. */
  startBaseline(name: BaselineName, env?: Record<string, string>): Promise<ChildServer>;
  /** Runs the admin CLI against the bench database and returns its `--json` answer. */
  cli<T = any>(args: string[]): Promise<T>;
  log(message: string): void;
}

/** One row of the table; each cell already formatted. */
export interface FigureResult {
  gateway: string;
  baseline: string;
  ratio: string;
  met: boolean | null;
  /** What the numbers mean or why a target is missed; printed under the table. */
  note?: string;
}

export interface Figure {
  id: string;
  title: string;
  target: string;
  /** Schema fields (`Type.field`) this figure needs; if any is missing it reads "n/a (feature not built)". */
  requires: string[];
  run(ctx: BenchContext): Promise<FigureResult>;
}

/** Thrown by a figure that cannot run here yet (e.g. its seeding tables don't exist). */
export class NotApplicable extends Error {}

export const fmt = {
  rps: (n: number) => `${Math.round(n).toLocaleString('en-US')} req/s`,
  ms: (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')} ms`,
  mb: (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`,
  pct: (n: number) => `${Math.round(n * 100)}%`,
  times: (n: number) => `${n.toFixed(2)}×`,
};

/** One autocannon run of a GraphQL POST to `url` with the organization's key, at the figure's connections. */
export function graphqlLoad(
  ctx: BenchContext,
  url: string,
  body: string,
  duration = ctx.duration,
  server?: MeasuredProcess,
): Promise<LoadResult> {
  return load(
    `${url}/graphql`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': ctx.apiKey },
      body,
      connections: ctx.connections,
      duration,
    },
    server,
  );
}
