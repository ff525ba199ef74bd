import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';
import type { BenchContext } from './figure';
import { NotApplicable } from './figure';

/** A startable one-step workflow (a transform: no network), created with the admin CLI. */
export async function createBenchWorkflow(ctx: BenchContext): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-bench-')), 'workflow.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ name: 'bench', startStep: 'shape', steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } } }),
  );
  try {
    const { workflowId } = await ctx.cli<{ workflowId: string }>(['workflow', 'create', '--org', ctx.orgId, '--file', file]);
    return workflowId;
  } catch (error) {
    throw new NotApplicable(`\`alloy workflow create\` failed: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * Inserts `count` QUEUED runs of `workflowId` in one statement (the whole backlog becomes visible at
 * one commit), announces one as a trigger's insert is (one QUEUED announcement wakes the worker for
 * the whole backlog), and waits until every run is final (polled every 20 ms); the seconds taken.
 */
export async function runBacklog(db: Client, ctx: BenchContext, workflowId: string, count: number): Promise<number> {
  const started = process.hrtime.bigint();
  await db.query(
    // id and created_at from the table's defaults: a v7 id of the insert's time, as the gateway makes them.
    `INSERT INTO workflow_runs (organization_id, workflow_id, channel, status, payload, next_step, workflow_version)
     SELECT $1, $2, 'TRIGGER', 'QUEUED', json_build_object('text', 'run ' || g), w.start_step, w.version
       FROM generate_series(1, $3::int) AS g, workflows w WHERE w.id = $2`,
    [ctx.orgId, workflowId, count],
  );
  await db.query(`SELECT alloy_announce_runs(ARRAY(SELECT id FROM workflow_runs WHERE workflow_id = $1 LIMIT 1))`, [workflowId]);
  for (;;) {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_id = $1 AND status IN ('SUCCEEDED', 'FAILED')`,
      [workflowId],
    );
    if (rows[0].n >= count) break;
    if (Number(process.hrtime.bigint() - started) > 600e9) throw new Error(`only ${rows[0].n} of ${count} runs finished in 10 minutes`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}
