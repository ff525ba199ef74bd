/**
 * Everything in the bench that must know the table layout of storage, workflows and teammates:
 * the SQL seeds, and the SQL of baseline (d). The storage baselines carry their own statements.
 * Each export lists the tables it needs; when one is missing, the figure or baseline that uses it
 * reads "n/a" with the reason instead of failing.
 */
import 'reflect-metadata';
import type { Client } from 'pg';
import { encodeCursor } from '../../src/graphql/relay';

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

export const STORAGE_TABLES = ['storage_entries'];

/** The id of the organization's top-level folder `name`. */
export async function topFolderId(db: Client, orgId: string, name: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT e.id FROM storage_entries e JOIN storage_entries root ON root.id = e.parent_id
      WHERE root.organization_id = $1 AND root.parent_id IS NULL AND e.name = $2 AND e.kind = 'folder'`,
    [orgId, name],
  );
  if (!rows[0]) throw new Error(`no folder /${name}`);
  return rows[0].id;
}

/** Object keys of every file under the top-level folder `name` (the delete figure watches these objects go). */
export async function objectKeysUnder(db: Client, orgId: string, name: string): Promise<string[]> {
  const { rows } = await db.query<{ object_key: string }>(
    `WITH RECURSIVE tree AS (
       SELECT id, object_key FROM storage_entries WHERE id = $1
       UNION ALL
       SELECT e.id, e.object_key FROM tree t JOIN storage_entries e ON e.parent_id = t.id
     )
     SELECT object_key FROM tree WHERE object_key IS NOT NULL`,
    [await topFolderId(db, orgId, name)],
  );
  return rows.map((r) => r.object_key);
}

/** The tag of folder listing cursors (the storage resolver's CHILDREN_CURSOR). */
const CHILDREN_CURSOR = 'entries';

/**
 * Under the (existing, API-created) folder `folderId`: `count` file rows f000000.txt… in one
 * statement (rows only: the deep-page figure lists them, nobody reads their bytes), then the
 * listing cursor after the `position`-th entry in listing order, as the resolver encodes it.
 */
export async function seedWideFolder(
  db: Client,
  { orgId, folderId, count, position }: { orgId: string; folderId: string; count: number; position: number },
): Promise<{ cursor: string }> {
  await db.query(
    `INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
     SELECT $1::uuid, $2, 'file', 'f' || lpad(g::text, 6, '0') || '.txt', $1::text || '/' || u, 8, 'text/plain', md5(g::text), replace(u::text, '-', '')
       FROM generate_series(1, $3::int) AS g, LATERAL (SELECT gen_random_uuid() AS u) AS id`,
    [orgId, folderId, count],
  );
  await db.query('ANALYZE storage_entries');
  const { rows } = await db.query<{ kind: string; name: string }>(
    `SELECT kind, name FROM storage_entries WHERE parent_id = $1 ORDER BY kind = 'file', name COLLATE "C" OFFSET $2 - 1 LIMIT 1`,
    [folderId, position],
  );
  if (!rows[0]) throw new Error(`the folder has fewer than ${position} entries`);
  return { cursor: encodeCursor(CHILDREN_CURSOR, [rows[0].kind === 'file', rows[0].name]) };
}

// ---------------------------------------------------------------------------------------------
// Workflows: baseline (d), the row a trigger inserts.
// ---------------------------------------------------------------------------------------------

export const WORKFLOW_TABLES = ['workflows', 'workflow_runs'];

/**
 * Baseline (d)'s table: a run as the simplest server would record it (id, organization, workflow,
 * status, payload, the step to run). A table of its own, so that no gateway worker claims its rows
 * and none of the gateway's triggers or indexes on workflow_runs are counted on the baseline's side.
 */
export const BASELINE_RUNS_TABLE_SQL = `
  CREATE TABLE IF NOT EXISTS bench_baseline_runs (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    status text NOT NULL,
    payload json,
    next_step text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`;

/**
 * One statement that checks the workflow (the organization's, startable) and inserts the run:
 * $1 run id, $2 organization id, $3 workflow id, $4 payload (JSON text). No row: not found.
 */
export const START_BASELINE_RUN_SQL = `
  INSERT INTO bench_baseline_runs (id, organization_id, workflow_id, status, payload, next_step)
  SELECT $1, w.organization_id, w.id, 'QUEUED', $4::json, w.start_step
    FROM workflows w
   WHERE w.id = $3 AND w.organization_id = $2 AND w.start_step IS NOT NULL AND w.deleted_at IS NULL
  RETURNING id`;

// ---------------------------------------------------------------------------------------------
// Teammates: 1,000,000 runs behind one teammate's request logs.
// ---------------------------------------------------------------------------------------------

export const REQUEST_LOG_TABLES = ['workflow_runs', 'teammates'];

/** The connection's cursor tag (TeammateService's REQUEST_LOG_CURSOR). */
const REQUEST_LOG_CURSOR = 'RequestLog';

/**
 * Inserts `count` finished API-channel runs of the teammate (its request logs) in one
 * INSERT … SELECT generate_series, one second apart, and returns the `after` cursor of the last
 * page of 20 in the connection's order (created_at DESC, id DESC): the cursor of the 21st oldest
 * row, encoded as the service encodes it. Foreign-key triggers are skipped for the seeding
 * session only (every id it writes exists), which halves the seeding time. Runs are partitioned
 * by day: the days' partitions are made first, and each run's id is a v7 uuid of its created_at
 * (as the gateway makes them); each run gets the STATUS event its insert would have written.
 */
export async function seedRequestLogs(
  db: Client,
  { orgId, workflowId, teammateId, count }: { orgId: string; workflowId: string; teammateId: string; count: number },
): Promise<{ deepCursor: string }> {
  await db.query(
    `SELECT alloy_create_run_partitions(((now() - make_interval(secs => $1::int)) AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date)`,
    [count + 1],
  );
  await db.query(`SET session_replication_role = replica`);
  await db.query(
    `INSERT INTO workflow_runs (id, organization_id, workflow_id, workflow_version, teammate_id, channel, status, payload, output, created_at, started_at, finished_at)
     SELECT uuid_v7_at(t), $1, $2, 1, $3, 'API', 'SUCCEEDED', jsonb_build_object('text', 'call ' || g), jsonb_build_object('echo', 'call ' || g),
            t, t, t + interval '0.25 s'
       FROM generate_series(1, $4::int) AS g, LATERAL (SELECT date_trunc('milliseconds', now()) - make_interval(secs => g) AS t) AS at`,
    [orgId, workflowId, teammateId, count],
  );
  await db.query(
    `INSERT INTO workflow_run_events (run_id, run_created_at, seq, type, data, at)
     SELECT id, created_at, 1, 'STATUS', to_json(status), created_at FROM workflow_runs WHERE teammate_id = $1`,
    [teammateId],
  );
  await db.query(`SET session_replication_role = DEFAULT`);
  await countSeededRuns(db, teammateId);
  await db.query('ANALYZE workflow_runs');
  const { rows } = await db.query<{ created_at: Date; id: string }>(
    `SELECT created_at, id FROM workflow_runs WHERE teammate_id = $1 AND channel = 'API'
      ORDER BY created_at ASC, id ASC OFFSET 20 LIMIT 1`,
    [teammateId],
  );
  if (!rows[0]) throw new Error('seeded rows not found');
  return { deepCursor: encodeCursor(REQUEST_LOG_CURSOR, [rows[0].created_at.toISOString(), rows[0].id]) };
}

/**
 * Replica mode skipped the triggers that keep request_log_counts (migration 1765800000000) too:
 * the teammate's seeded runs are counted here in one statement, as that migration counts the runs
 * a database already has. A database without the table (before that migration) has nothing to keep.
 */
export async function countSeededRuns(db: Client, teammateId: string): Promise<void> {
  const { rows } = await db.query(`SELECT to_regclass('request_log_counts') IS NOT NULL AS counted`);
  if (!rows[0].counted) return;
  await db.query('BEGIN');
  await db.query(`DELETE FROM request_log_count_deltas WHERE teammate_id = $1`, [teammateId]);
  await db.query(`DELETE FROM request_log_counts WHERE teammate_id = $1`, [teammateId]);
  await db.query(
    `INSERT INTO request_log_counts (organization_id, teammate_id, status, day, n)
     SELECT organization_id, teammate_id, status, request_log_count_day(created_at), count(*)
       FROM workflow_runs WHERE teammate_id = $1 AND channel = 'API'
      GROUP BY 1, 2, 3, 4`,
    [teammateId],
  );
  await db.query('COMMIT');
}

// ---------------------------------------------------------------------------------------------
// Storage: a folder with 10,000 descendants (rename/move and delete figures).
// ---------------------------------------------------------------------------------------------

/**
 * Under the (existing, API-created) folder `treeId`: `folders` subfolders d000… and `files` small
 * files f00000.txt… spread over them, rows in one statement; returns each file's object key and
 * bytes so the caller writes the objects where the disk driver keeps them (`<dir>/<key>`).
 * Seeding 10,000 files through the API takes minutes on 2 cores; this takes about a second.
 */
export async function seedTreeRows(
  db: Client,
  { orgId, treeId, folders, files }: { orgId: string; treeId: string; folders: number; files: number },
): Promise<Array<{ key: string; bytes: string }>> {
  const { rows } = await db.query<{ object_key: string; g: number }>(
    `WITH dirs AS (
       INSERT INTO storage_entries (organization_id, parent_id, kind, name)
       SELECT $1, $2, 'folder', 'd' || lpad(d::text, 3, '0') FROM generate_series(0, $3::int - 1) AS d
       RETURNING id, name
     ), objects AS (
       SELECT g, gen_random_uuid() AS u FROM generate_series(0, $4::int - 1) AS g
     )
     INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
     SELECT $1, dirs.id, 'file', 'f' || lpad(g::text, 5, '0') || '.txt', $1 || '/' || u, length(g::text) + 1,
            'text/plain', md5(g::text || E'\\n'), replace(u::text, '-', '')
       FROM objects JOIN dirs ON dirs.name = 'd' || lpad((g % $3::int)::text, 3, '0')
     RETURNING object_key, substring(name from 2 for 5)::int AS g`,
    [orgId, treeId, folders, files],
  );
  return rows.map((r) => ({ key: r.object_key, bytes: `${r.g}\n` }));
}

// ---------------------------------------------------------------------------------------------
// Search: named files and files with extracted text, in several organizations.
// ---------------------------------------------------------------------------------------------

export const SEARCH_TABLES = ['storage_entries', 'storage_texts'];

/**
 * In each organization of `orgIds` (its root made if missing): 100 folders holding `files` file
 * rows named `<name> <n>.pdf` (`names` picked by hash), and for the first `withText` of them a
 * storage_texts row (INDEXED) whose text is 10 of `paragraphs`, picked by hash, about 5 KB, with
 * its tsvector computed as the extraction job stores it. Rows only: search reads no bytes.
 */
export async function seedSearchRows(
  db: Client,
  {
    orgIds,
    files,
    withText,
    names,
    paragraphs,
  }: { orgIds: string[]; files: number; withText: number; names: string[]; paragraphs: string[] },
): Promise<void> {
  for (const orgId of orgIds) {
    await db.query(
      `INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, NULL, 'folder', '')
       ON CONFLICT (organization_id) WHERE parent_id IS NULL DO NOTHING`,
      [orgId],
    );
    await db.query(
      `INSERT INTO storage_entries (organization_id, parent_id, kind, name)
       SELECT $1, root.id, 'folder', 'archive ' || lpad(g::text, 3, '0')
         FROM storage_entries root, generate_series(1, 100) AS g WHERE root.organization_id = $1 AND root.parent_id IS NULL`,
      [orgId],
    );
    await db.query(
      `WITH folders AS (
         SELECT array_agg(e.id ORDER BY e.name) AS ids FROM storage_entries e JOIN storage_entries root ON root.id = e.parent_id
          WHERE root.organization_id = $1 AND root.parent_id IS NULL AND e.name LIKE 'archive %'
       )
       INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
       SELECT $1::uuid, folders.ids[1 + g % 100],  'file',
              ($2::text[])[1 + (hashint4(g) & 2147483647) % cardinality($2::text[])] || ' ' || g || '.pdf',
              $1::text || '/' || u, 5000, 'application/pdf', md5(g::text), replace(u::text, '-', '')
         FROM folders, generate_series(1, $3::int) AS g, LATERAL (SELECT gen_random_uuid() AS u) AS id`,
      [orgId, names, files],
    );
    await db.query(
      `INSERT INTO storage_texts (entry_id, organization_id, etag, status, body, document, extracted_at)
       SELECT f.id, $1, f.etag, 'INDEXED', t.body, to_tsvector('alloy_search', alloy_search_words(t.body)), now()
         FROM (SELECT id, etag, row_number() OVER (ORDER BY id) AS n FROM storage_entries e
                WHERE organization_id = $1 AND kind = 'file'
                  -- Files uploaded by earlier figures have their text row already (every upload writes one).
                  AND NOT EXISTS (SELECT 1 FROM storage_texts x WHERE x.entry_id = e.id)
                LIMIT $3) AS f,
         LATERAL (SELECT string_agg(($2::text[])[1 + (hashint4((f.n * 10 + k)::int) & 2147483647) % cardinality($2::text[])], E'\\n\\n') AS body
                    FROM generate_series(1, 10) AS k) AS t`,
      [orgId, paragraphs, withText],
    );
  }
  await db.query('ANALYZE storage_entries');
  await db.query('ANALYZE storage_texts');
}

// ---------------------------------------------------------------------------------------------
// Storage: a trash and versions beside a live folder (the listing-trash and deep-page-trash figures).
// ---------------------------------------------------------------------------------------------

export const TRASH_TABLES = ['storage_entries', 'storage_file_versions'];

/**
 * Beside each live entry of folder `folderId` (path `folderPath`): `trashedPerEntry` trashed files
 * named `<name>~000001…`, which sort right after it (so a listing page has them all around it),
 * each a trash item as deleteEntry leaves it; and `versionsPerFile` kept versions of each live
 * file, older than its current content. Rows only (nobody reads their bytes), two statements.
 * How many trashed rows and versions.
 */
export async function seedTrashAndVersions(
  db: Client,
  {
    orgId,
    folderId,
    folderPath,
    trashedPerEntry,
    versionsPerFile,
  }: { orgId: string; folderId: string; folderPath: string; trashedPerEntry: number; versionsPerFile: number },
): Promise<{ trashed: number; versions: number }> {
  const trashed = await db.query(
    `INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag, trashed_at, trashed_path)
     SELECT $1::uuid, $2::uuid, 'file', t.name, $1::text || '/' || t.u, 8, 'text/plain', md5(t.name), replace(t.u::text, '-', ''),
            now() - make_interval(secs => t.k), $3::text || '/' || t.name
       FROM (SELECT live.name || '~' || lpad(k::text, 6, '0') AS name, k, gen_random_uuid() AS u
               FROM storage_entries AS live, generate_series(1, $4::int) AS k
              WHERE live.parent_id = $2 AND live.trashed_at IS NULL) AS t`,
    [orgId, folderId, folderPath, trashedPerEntry],
  );
  const versions = await db.query(
    `INSERT INTO storage_file_versions (file_id, etag, object_key, size, content_type, md5, created_at)
     SELECT v.id, replace(v.u::text, '-', ''), $1::text || '/' || v.u, 8, 'text/plain', md5(v.k::text), v.content_at - make_interval(mins => v.k)
       FROM (SELECT f.id, f.content_at, k, gen_random_uuid() AS u
               FROM storage_entries AS f, generate_series(1, $3::int) AS k
              WHERE f.parent_id = $2 AND f.kind = 'file' AND f.trashed_at IS NULL) AS v`,
    [orgId, folderId, versionsPerFile],
  );
  await db.query('ANALYZE storage_entries');
  await db.query('ANALYZE storage_file_versions');
  return { trashed: trashed.rowCount ?? 0, versions: versions.rowCount ?? 0 };
}
