/**
 * Baseline (d): plain node:http + pg inserting the same workflow-run row a `triggerWorkflow`
 * inserts (INSERT_WORKFLOW_RUN_SQL) and answering its id, for a fixed organization and workflow
 * (ORG_ID, WORKFLOW_ID). No key check, no queue job: the simplest server that records a run.
 */
import http from 'node:http';
import { INSERT_WORKFLOW_RUN_SQL, WORKFLOW_TABLES } from '../seed/after-merge';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

async function main() {
  const db = pool();
  const missing = await missingTables(db, WORKFLOW_TABLES);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found (adapt bench/seed/after-merge.ts)`);
  const orgId = process.env.ORG_ID!;
  const workflowId = process.env.WORKFLOW_ID!;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { payload?: unknown } };
      const { rows } = await db.query(INSERT_WORKFLOW_RUN_SQL, [orgId, workflowId, JSON.stringify(body.variables?.payload ?? null)]);
      json(res, 200, { data: { triggerWorkflow: { runId: rows[0].id } } });
    } catch (error) {
      json(res, 500, { errors: [{ message: String(error) }] });
    }
  });
  listen(server);
}
main().catch((error) => unavailable(String(error)));
