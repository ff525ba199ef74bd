import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus registry, served by `GET /metrics`. Capabilities record their own
 * figures through `metrics.*` or `registerGauge` (e.g. workflow runs by status, queue depth).
 * One registry per process: gateways started twice in one process (tests) count into the same one.
 */
export const registry = new Registry();

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const metrics = {
  httpRequests: new Counter({
    name: 'alloy_http_requests_total',
    help: 'HTTP requests answered, by route, GraphQL operation name (bucketed) and status',
    labelNames: ['route', 'operation', 'status'] as const,
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'alloy_http_request_duration_seconds',
    help: 'Time from receiving a request to the end of its response, by route and GraphQL operation name',
    labelNames: ['route', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  graphqlErrors: new Counter({
    name: 'alloy_graphql_errors_total',
    help: 'GraphQL errors returned to clients, by extensions.code',
    labelNames: ['code'] as const,
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: 'alloy_rate_limited_requests_total',
    help: 'Requests refused with RATE_LIMITED',
    registers: [registry],
  }),
  rateLimitStoreErrors: new Counter({
    name: 'alloy_rate_limit_store_errors_total',
    help: 'Rate limit checks skipped because the counter store could not be reached',
    registers: [registry],
  }),
  /** For the storage capability: `metrics.uploads.inc({ outcome: 'stored' | 'too_large' | 'failed' })`. */
  uploads: new Counter({
    name: 'alloy_uploads_total',
    help: 'File uploads, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  /** For the storage capability: bytes of uploads stored. */
  uploadBytes: new Counter({
    name: 'alloy_upload_bytes_total',
    help: 'Bytes of file uploads stored',
    registers: [registry],
  }),
};

export interface GaugeReading {
  labels?: Record<string, string>;
  value: number;
}

export interface GaugeDefinition {
  /** e.g. `alloy_workflow_runs` */
  name: string;
  help: string;
  labelNames?: string[];
  /** Called at each scrape; a number for an unlabelled gauge, or one reading per label set. */
  read(): number | GaugeReading[] | Promise<number | GaugeReading[]>;
}

/**
 * A gauge whose figures are read at scrape time, e.g. workflow runs by status or queue depth:
 * `registerGauge({ name: 'alloy_workflow_runs', help: '…', labelNames: ['status'], read: async () => [...] })`.
 * Registering a name again replaces the earlier gauge (a second gateway in the same process).
 * A failing `read` leaves the gauge empty for that scrape instead of failing `/metrics`.
 */
export function registerGauge(definition: GaugeDefinition): void {
  registry.removeSingleMetric(definition.name);
  new Gauge({
    name: definition.name,
    help: definition.help,
    labelNames: definition.labelNames ?? [],
    registers: [registry],
    async collect() {
      this.reset();
      let readings: number | GaugeReading[];
      try {
        readings = await definition.read();
      } catch {
        return;
      }
      if (typeof readings === 'number') this.set(readings);
      else for (const { labels, value } of readings) this.set(labels ?? {}, value);
    },
  });
}

let processMetricsOn = false;

/** CPU, memory, event loop lag and GC of this process (once per process). */
export function collectProcessMetrics(): void {
  if (processMetricsOn) return;
  processMetricsOn = true;
  collectDefaultMetrics({ register: registry });
}

const MAX_OPERATION_LABELS = 200;
const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const knownOperations = new Set<string>();

/**
 * Operation names are chosen by clients, so they are a label only up to a bound: the first 200
 * distinct names seen keep their own series, later ones count as `other`; unnamed ones as `anonymous`.
 */
export function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  if (knownOperations.has(name)) return name;
  if (knownOperations.size >= MAX_OPERATION_LABELS || !OPERATION_NAME.test(name)) return 'other';
  knownOperations.add(name);
  return name;
}

export const metricsHandler: RequestHandler = async (_req, res, next) => {
  try {
    const text = await registry.metrics();
    res.setHeader('content-type', registry.contentType);
    res.end(text);
  } catch (error) {
    next(error);
  }
};
