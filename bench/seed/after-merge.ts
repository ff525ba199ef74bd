/**
 * Everything in the bench that must know the table layout of the storage and workflow features.
 * Those features were built on other branches at the same time as the bench, so the SQL below
 * is written against the names they were expected to use.
 *
 * TODO(after merge): check each statement against src/storage and src/workflows migrations and
 * adapt names. Each statement lists the tables it needs; when one is missing, the figure or
 * baseline that uses it reads "n/a" instead of failing, so a wrong guess is visible, not fatal.
 */
import 'reflect-metadata';
import type { Client } from 'pg';
import { encodeCursor } from '../../src/graphql/relay';

// ---------------------------------------------------------------------------------------------
// Storage: baseline (a), the folder listing.
// ---------------------------------------------------------------------------------------------

/** TODO(after merge): the storage entries table. */
export const STORAGE_TABLES = ['entries'];

/**
 * The listing the gateway answers for
 * `folder(path){ children(first:50){ edges{ node{ id name path ... on File { size } } } totalCount } }`
 * as the one query a hand-written server would send: $1 organization id, $2 folder path.
 * TODO(after merge): same columns and order as the storage service's children query.
 */
export const FOLDER_LISTING_SQL = `
  WITH folder AS (SELECT id FROM entries WHERE organization_id = $1 AND path = $2)
  SELECT e.id, e.name, e.path, e.kind, e.size, count(*) OVER () AS total
    FROM entries e
   WHERE e.organization_id = $1 AND e.parent_id = (SELECT id FROM folder)
   ORDER BY e.name, e.id
   LIMIT 50`;

// ---------------------------------------------------------------------------------------------
// Workflows: baseline (d), the row a trigger inserts.
// ---------------------------------------------------------------------------------------------

/** TODO(after merge): the workflow tables. */
export const WORKFLOW_TABLES = ['workflows', 'workflow_runs'];

/**
 * The row `triggerWorkflow` inserts: $1 organization id, $2 workflow id, $3 payload (JSON).
 * TODO(after merge): same columns as the workflow service's insert (and its pg-boss job, if the
 * comparison should include it).
 */
export const INSERT_WORKFLOW_RUN_SQL = `
  INSERT INTO workflow_runs (organization_id, workflow_id, status, payload)
  VALUES ($1, $2, 'QUEUED', $3::jsonb)
  RETURNING id`;

// ---------------------------------------------------------------------------------------------
// Teammates: 1,000,000 runs behind one teammate's request logs.
// ---------------------------------------------------------------------------------------------

/** TODO(after merge): the tables a teammate's request logs are read from. */
export const REQUEST_LOG_TABLES = ['workflow_runs', 'teammates'];

/**
 * Inserts `count` finished runs of the teammate's workflow in one statement (generate_series:
 * about a minute for a million rows on 2 cores) and returns the `after` cursor of the page that
 * starts `depth` rows down, in the connection's order (newest first).
 * TODO(after merge): the columns that mark a run as a request log of the teammate, the
 * connection's sort key, and its cursor tag (see the teammate resolver's encodeCursor call).
 */
export async function seedRequestLogs(
  db: Client,
  { orgId, workflowId, teammateId, count, depth }: { orgId: string; workflowId: string; teammateId: string; count: number; depth: number },
): Promise<{ deepCursor: string }> {
  await db.query(
    `INSERT INTO workflow_runs (organization_id, workflow_id, teammate_id, status, payload, output, created_at, started_at, finished_at)
     SELECT $1, $2, $3, 'SUCCEEDED', jsonb_build_object('n', g), jsonb_build_object('ok', true),
            now() - make_interval(secs => g), now() - make_interval(secs => g), now() - make_interval(secs => g)
       FROM generate_series(1, $4::int) AS g`,
    [orgId, workflowId, teammateId, count],
  );
  await db.query('ANALYZE workflow_runs');
  const { rows } = await db.query<{ created_at: Date; id: string }>(
    `SELECT created_at, id FROM workflow_runs WHERE teammate_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
    [teammateId, depth - 1],
  );
  if (!rows[0]) throw new Error('seeded rows not found');
  return { deepCursor: encodeCursor('requestLogs', [rows[0].created_at.toISOString(), rows[0].id]) };
}
