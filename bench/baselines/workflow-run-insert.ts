/**
 * Baseline (d): plain node:http + pg answering a trigger for a fixed organization (ORG_ID) with
 * one prepared statement that checks the workflow and inserts the run (START_BASELINE_RUN_SQL),
 * and its id. No key check, no queue, no notification: the simplest server that records a run.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { BASELINE_RUNS_TABLE_SQL, START_BASELINE_RUN_SQL, WORKFLOW_TABLES } from '../seed/tables';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

async function main() {
  const db = pool();
  const missing = await missingTables(db, WORKFLOW_TABLES);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found (adapt bench/seed/tables.ts)`);
  await db.query(BASELINE_RUNS_TABLE_SQL);
  const orgId = process.env.ORG_ID!;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { id?: string; payload?: unknown } };
      const payload = body.variables?.payload ?? null;
      const { rows } = await db.query({
        name: 'start-run',
        text: START_BASELINE_RUN_SQL,
        values: [randomUUID(), orgId, body.variables?.id, payload === null ? null : JSON.stringify(payload)],
      });
      if (rows.length === 0)
        return json(res, 200, { errors: [{ message: 'Workflow not found', extensions: { code: 'WORKFLOW_NOT_FOUND' } }] });
      json(res, 200, { data: { triggerWorkflow: { runId: rows[0].id } } });
    } catch (error) {
      json(res, 500, { errors: [{ message: String(error) }] });
    }
  });
  listen(server);
}
main().catch((error) => unavailable(String(error)));
