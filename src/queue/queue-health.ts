import type { ReadinessCheck } from '../http/health';
import { registerGauge } from '../observability/metrics';
import type { Queue } from './queue';

/** `/readyz` part: the queue's own connection pool reaches its schema. */
export function queueReadiness(queue: Queue): ReadinessCheck {
  return { name: 'queue', check: async () => void (await queue.schemaVersion()) };
}

/** `alloy_queue_jobs_waiting{queue}`: jobs created or waiting for a retry, per pg-boss queue, read at scrape time. */
export function registerQueueGauges(queue: Queue): void {
  registerGauge({
    name: 'alloy_queue_jobs_waiting',
    help: 'Jobs waiting to be worked (created or retry), by queue',
    labelNames: ['queue'],
    async read() {
      // Every queue, zeros included; pgboss.job is partitioned by queue and indexed on (name, state).
      const { rows } = await queue.getDb().executeSql(
        `SELECT q.name, (SELECT count(*)::int FROM pgboss.job j WHERE j.name = q.name AND j.state IN ('created', 'retry')) AS n
           FROM pgboss.queue q`,
        [],
      );
      return (rows as Array<{ name: string; n: number }>).map((r) => ({ labels: { queue: r.name }, value: r.n }));
    },
  });
}
