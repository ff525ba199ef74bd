import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import { registerGauge } from '../observability/metrics';

const STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

const RUNS_BY_STATUS = statement('workflows.runs-by-status', `SELECT status, count(*)::int AS n FROM workflow_runs GROUP BY status`);

/** `alloy_workflow_runs{status}`: runs of every organization by status, counted at each scrape only. */
export function registerWorkflowGauges(db: DataSource): void {
  const sql = new StatementRunner(db);
  registerGauge({
    name: 'alloy_workflow_runs',
    help: 'Workflow runs by status (all organizations)',
    labelNames: ['status'],
    async read() {
      const rows = await sql.rows<{ status: string; n: number }>(RUNS_BY_STATUS, []);
      const counts = new Map(rows.map((r) => [r.status, r.n]));
      // Every status is reported, zeros included, so that alerts on a series never see it vanish.
      return STATUSES.map((status) => ({ labels: { status }, value: counts.get(status) ?? 0 }));
    },
  });
}
