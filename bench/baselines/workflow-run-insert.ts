/**
 * Baseline (d): plain node:http + pg inserting the same workflow-run row a `triggerWorkflow`
 * inserts (INSERT_WORKFLOW_RUN_SQL) and answering its id, for a fixed organization and workflow
 * (ORG_ID, WORKFLOW_ID). No key check, no workflow check, no queue job: the simplest server that
 * records a run.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { INSERT_WORKFLOW_RUN_SQL, WORKFLOW_START_STEP_SQL, WORKFLOW_TABLES } from '../seed/tables';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

async function main() {
  const db = pool();
  const missing = await missingTables(db, WORKFLOW_TABLES);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found (adapt bench/seed/tables.ts)`);
  const orgId = process.env.ORG_ID!;
  const workflowId = process.env.WORKFLOW_ID!;
  const { rows } = await db.query(WORKFLOW_START_STEP_SQL, [workflowId, orgId]);
  if (!rows[0]?.start_step) unavailable(`workflow ${workflowId} not found or not startable`);
  const startStep: string = rows[0].start_step;
  const version: number = rows[0].version;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { payload?: unknown } };
      const runId = randomUUID();
      const payload = body.variables?.payload ?? null;
      await db.query(INSERT_WORKFLOW_RUN_SQL, [runId, orgId, workflowId, payload === null ? null : JSON.stringify(payload), startStep, version]);
      json(res, 200, { data: { triggerWorkflow: { runId } } });
    } catch (error) {
      json(res, 500, { errors: [{ message: String(error) }] });
    }
  });
  listen(server);
}
main().catch((error) => unavailable(String(error)));
