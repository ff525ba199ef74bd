import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import type { ReadinessCheck } from '../observability/readiness';
import { registerGauge } from '../observability/metrics';
import type { Queue } from './queue';

/** Every queue, zeros included; pgboss.job is partitioned by queue and indexed on (name, state). */
const JOBS_WAITING = statement(
  'queue.jobs-waiting',
  `SELECT q.name, (SELECT count(*)::int FROM pgboss.job j WHERE j.name = q.name AND j.state IN ('created', 'retry')) AS n
     FROM pgboss.queue q`,
);

/** `/readyz` part: the queue's own connection pool reaches its schema. */
export function queueReadiness(queue: Queue): ReadinessCheck {
  return { name: 'queue', check: async () => void (await queue.schemaVersion()) };
}

/** `alloy_queue_jobs_waiting{queue}`: jobs created or waiting for a retry, per pg-boss queue, read at scrape time. */
export function registerQueueGauges(db: DataSource): void {
  const sql = new StatementRunner(db);
  registerGauge({
    name: 'alloy_queue_jobs_waiting',
    help: 'Jobs waiting to be worked (created or retry), by queue',
    labelNames: ['queue'],
    async read() {
      const rows = await sql.rows<{ name: string; n: number }>(JOBS_WAITING, []);
      return rows.map((r) => ({ labels: { queue: r.name }, value: r.n }));
    },
  });
}
