import http from 'node:http';

// autocannon ships no types; this is the part of its programmatic API the bench uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon: (options: LoadOptions & { url: string }) => Promise<AutocannonResult> = require('autocannon');

export interface LoadOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  connections?: number;
  /** Seconds. */
  duration?: number;
  /** Stop after this many requests instead of after `duration`. */
  amount?: number;
  pipelining?: number;
  timeout?: number;
  /** Answers for which this returns false count as failed; by default, any GraphQL error answer. */
  verifyBody?: (body: string) => boolean;
}

/** The server under load, to count the CPU time it spends per request. */
export interface MeasuredProcess {
  cpuMs(): number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  '2xx': number;
}

export interface LoadResult {
  /** Completed 2xx requests per second over the run. */
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  /** CPU time the server process used per answered request, in µs (NaN when not measured). */
  cpuPerRequestUs: number;
}

const noGraphQLErrors = (body: string) => !body.includes('"errors":');

/**
 * One autocannon run against `url`. Non-2xx answers, socket errors and answers that fail
 * `verifyBody` (a GraphQL error comes with HTTP 200) count as failures, not as throughput.
 */
export async function load(url: string, options: LoadOptions, server?: MeasuredProcess): Promise<LoadResult> {
  const cpuBefore = server?.cpuMs() ?? NaN;
  const result = await autocannon({ url, connections: 20, duration: 5, timeout: 30, verifyBody: noGraphQLErrors, ...options });
  const cpu = (server?.cpuMs() ?? NaN) - cpuBefore;
  const failed = result.non2xx + result.errors + result.timeouts + (result.mismatches ?? 0);
  return {
    rps: Math.max(result['2xx'] - (result.mismatches ?? 0), 0) / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: Math.max(result['2xx'] - (result.mismatches ?? 0), 0),
    failed,
    cpuPerRequestUs: (cpu * 1000) / Math.max(result['2xx'] + failed, 1),
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;

/**
 * One client sending requests one after another over one kept-alive connection for `duration`
 * seconds, each timed with the high-resolution clock (autocannon's latencies have a 1 ms
 * resolution, too coarse for requests of a few milliseconds). Same result shape as `load`.
 */
export async function sequential(url: string, options: LoadOptions, server?: MeasuredProcess): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const verify = options.verifyBody ?? noGraphQLErrors;
  const send = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(options.body);
    });
  const latencies: number[] = [];
  let failed = 0;
  const cpuBefore = server?.cpuMs() ?? NaN;
  const started = Date.now();
  const until = started + (options.duration ?? 5) * 1000;
  try {
    while (Date.now() < until) {
      const t0 = process.hrtime.bigint();
      const answer = await send().catch(() => ({ status: 0, body: '' }));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (answer.status >= 200 && answer.status < 300 && verify(answer.body)) latencies.push(ms);
      else failed++;
    }
  } finally {
    agent.destroy();
  }
  const cpu = (server?.cpuMs() ?? NaN) - cpuBefore;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    rps: (latencies.length * 1000) / (Date.now() - started),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    ok: latencies.length,
    failed,
    cpuPerRequestUs: (cpu * 1000) / Math.max(latencies.length + failed, 1),
  };
}

export interface Comparison {
  gateway: LoadResult[];
  baseline: LoadResult[];
}

/**
 * Runs gateway and baseline alternately, `rounds` times each, after a short warm-up of both, so
 * that a noisy neighbour slows both sides alike. The order flips every round.
 */
export async function interleave(
  gateway: () => Promise<LoadResult>,
  baseline: () => Promise<LoadResult>,
  { rounds = 3, warmup }: { rounds?: number; warmup?: { gateway: () => Promise<unknown>; baseline: () => Promise<unknown> } } = {},
): Promise<Comparison> {
  if (warmup) {
    await warmup.gateway();
    await warmup.baseline();
  }
  const out: Comparison = { gateway: [], baseline: [] };
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      out.gateway.push(await gateway());
      out.baseline.push(await baseline());
    } else {
      out.baseline.push(await baseline());
      out.gateway.push(await gateway());
    }
  }
  return out;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of the per-round ratios gateway/baseline: each pair ran back to back on the same machine state. */
export function pairedRatio(c: Comparison, value: (r: LoadResult) => number): number {
  return median(c.gateway.map((g, i) => value(g) / Math.max(value(c.baseline[i]), 1e-9)));
}

export function assertClean(label: string, results: LoadResult[]): void {
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const ok = results.reduce((n, r) => n + r.ok, 0);
  if (failed > 0) throw new Error(`${label}: ${failed} of ${failed + ok} requests failed`);
  if (ok === 0) throw new Error(`${label}: no request succeeded`);
}

type Side = (duration?: number) => Promise<LoadResult>;

/** Warm-up of `warmupSeconds` per side, interleaved rounds, every request answered cleanly. */
async function cleanRounds(
  gateway: Side,
  baseline: Side,
  rounds: number,
  warmupSeconds: number,
  labels: [string, string],
): Promise<Comparison> {
  const comparison = await interleave(
    () => gateway(),
    () => baseline(),
    {
      rounds,
      warmup: { gateway: () => gateway(warmupSeconds), baseline: () => baseline(warmupSeconds) },
    },
  );
  assertClean(labels[0], comparison.gateway);
  assertClean(labels[1], comparison.baseline);
  return comparison;
}

export interface ThroughputComparison {
  comparison: Comparison;
  /** Medians of the rounds. */
  gatewayRps: number;
  baselineRps: number;
  gatewayCpuUs: number;
  baselineCpuUs: number;
  /** Median of the per-round gateway/baseline req/s ratios. */
  ratio: number;
}

/** "1,234 req/s; 812 µs CPU/req": a throughput cell of the table, with the server's CPU time per request beside it. */
export function cpuCell(us: number): string {
  return Number.isFinite(us) ? `${Math.round(us).toLocaleString('en-US')} µs CPU/req` : 'CPU n/a';
}

/**
 * Seconds of load each side gets before the rounds of a req/s figure. 2 s left the gateway's
 * first round cold (listing, 5 rounds: 1,383 and 1,625 µs of CPU per request in the first round
 * against 960 to 1,139 µs in the others), so the median of 3 rounds read about a tenth too
 * slow; the baselines' rounds did not move.
 */
export const THROUGHPUT_WARMUP_SECONDS = 6;

/**
 * The req/s figures' common run: a warm-up of each side, interleaved rounds, every request
 * answered cleanly, then medians. `run(duration?)` runs one load of the given side.
 */
export async function compareThroughput(gateway: Side, baseline: Side, rounds: number): Promise<ThroughputComparison> {
  const comparison = await cleanRounds(gateway, baseline, rounds, THROUGHPUT_WARMUP_SECONDS, ['gateway', 'baseline']);
  return {
    comparison,
    gatewayRps: median(comparison.gateway.map((r) => r.rps)),
    baselineRps: median(comparison.baseline.map((r) => r.rps)),
    gatewayCpuUs: median(comparison.gateway.map((r) => r.cpuPerRequestUs)),
    baselineCpuUs: median(comparison.baseline.map((r) => r.cpuPerRequestUs)),
    ratio: pairedRatio(comparison, (r) => r.rps),
  };
}

export interface LatencyComparison {
  comparison: Comparison;
  /** Medians of the rounds' p50s. */
  gatewayP50: number;
  baselineP50: number;
  /** Median of the per-round gateway/baseline p50 ratios. */
  ratio: number;
  /** Medians of the server processes' CPU time per request (NaN for a side run without its process). */
  gatewayCpuUs: number;
  baselineCpuUs: number;
}

/** The latency figures' common run: as compareThroughput with a 1 s warm-up, then medians of the p50s. */
export async function compareLatency(
  gateway: Side,
  baseline: Side,
  rounds: number,
  labels: [string, string] = ['gateway', 'baseline'],
): Promise<LatencyComparison> {
  const comparison = await cleanRounds(gateway, baseline, rounds, 1, labels);
  return {
    comparison,
    gatewayP50: median(comparison.gateway.map((r) => r.p50)),
    baselineP50: median(comparison.baseline.map((r) => r.p50)),
    ratio: pairedRatio(comparison, (r) => r.p50),
    gatewayCpuUs: median(comparison.gateway.map((r) => r.cpuPerRequestUs)),
    baselineCpuUs: median(comparison.baseline.map((r) => r.cpuPerRequestUs)),
  };
}
