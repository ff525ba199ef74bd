import type { DataSource } from 'typeorm';
import { registerGauge } from '../observability/metrics';

const STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;

/** `alloy_workflow_runs{status}`: runs of every organization by status, counted at each scrape only. */
export function registerWorkflowGauges(db: DataSource): void {
  registerGauge({
    name: 'alloy_workflow_runs',
    help: 'Workflow runs by status (all organizations)',
    labelNames: ['status'],
    async read() {
      const rows: Array<{ status: string; n: number }> = await db.query(
        `SELECT status, count(*)::int AS n FROM workflow_runs GROUP BY status`,
      );
      const counts = new Map(rows.map((r) => [r.status, r.n]));
      // Every status is reported, zeros included, so that alerts on a series never see it vanish.
      return STATUSES.map((status) => ({ labels: { status }, value: counts.get(status) ?? 0 }));
    },
  });
}
