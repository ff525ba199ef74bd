import type { EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../graphql/errors';
import { joinPath } from './names';
import { Columns, epochMs, float8, omit, pick, selectList } from '../db/columns';
import { Page, pageOf, PageQuery, withTotal } from '../db/page';
import { Statement, statement, StatementRunner } from '../db/statements';
import { SCHEDULE_TEXTS } from './search/text-store';
import { ENTRY_COLUMNS, StorageEntry, TrashedEntry } from './storage-entry';

// Every statement on `storage_entries`, `storage_file_versions` and `storage_pending_objects`, and
// nothing else but the text row an upload's commit writes in the same statement (text-store's SQL):
// the services above decide what to run and when, and own the transactions.

/** An entry's columns (ENTRY_COLUMNS but the trash's). */
const COLUMNS = selectList(omit(ENTRY_COLUMNS, 'trashedAt', 'trashedPath'));

/** COLUMNS but the two that a folder's children share with it (read as many times as there are children). */
const CHILD_COLUMNS = selectList(omit(ENTRY_COLUMNS, 'organizationId', 'parentId', 'trashedAt', 'trashedPath'));

/**
 * The fields of a listed entry that a listing leaves out when nobody asked for what needs them
 * (`ChildrenQuery.brief`): a file's object key, MD5 and etag, about half of each row's bytes and
 * of its parsing, which was the largest single share of a listing's CPU time (BENCHMARKS.md).
 */
const BRIEF_CHILD_COLUMNS = selectList(
  omit(ENTRY_COLUMNS, 'organizationId', 'parentId', 'trashedAt', 'trashedPath', 'objectKey', 'md5', 'etag'),
);

/** A trash item's columns: the entry's and the trash's. */
const TRASH_COLUMNS = selectList(ENTRY_COLUMNS);

/**
 * A row selected from ENTRY_COLUMNS (or a part of them), made a StorageEntry (in place): the one
 * mapper of `storage_entries` rows, which only makes the times Dates.
 */
function entry<T extends Partial<TrashedEntry>>(row: T): T {
  if (row.createdAt !== undefined) row.createdAt = new Date(row.createdAt as unknown as number);
  if (row.updatedAt !== undefined) row.updatedAt = new Date(row.updatedAt as unknown as number);
  if (row.trashedAt !== undefined) row.trashedAt = new Date(row.trashedAt as unknown as number);
  return row;
}
const entries = <T extends Partial<TrashedEntry>>(rows: T[]): T[] => {
  for (const row of rows) entry(row);
  return rows;
};
const entryOrNull = <T extends Partial<TrashedEntry>>(row: T | null): T | null => (row ? entry(row) : null);

/** Listing order: folders first, then by name bytewise (index storage_entries_listing). */
const LISTING_KEY = `(kind = 'file'), name COLLATE "C"`;

/**
 * The live tree: an entry is live when neither it nor a folder above it is in the trash. Walking
 * down from the root with this condition on every step (and listing a live folder's children with
 * it) reaches live entries only, through indexes that hold no trashed row; statements that reach
 * an entry by id use the database function `storage_entry_is_live(id)` (see LIVE_BY_ID).
 */
export const LIVE_STEP = 'trashed_at IS NULL';
/**
 * SQL: whether the entry of the id expression `id` is live, walking its parent pointers up (one
 * index lookup per level). The one test of "not in the trash" for anything that finds entries by
 * id or by content (node ids, downloads, search).
 */
export const LIVE_BY_ID = (id: string) => `storage_entry_is_live(${id})`;

/** Walks `$2` (text[] of names) down from the root of organization `$1`: one row per level reached. */
const WALK = `
  WITH RECURSIVE walk AS (
    SELECT e.*, 0 AS depth FROM storage_entries e WHERE e.organization_id = $1 AND e.parent_id IS NULL
    UNION ALL
    SELECT e.*, w.depth + 1 FROM walk w
      JOIN storage_entries e ON e.parent_id = w.id AND e.name = ($2::text[])[w.depth + 1] AND e.${LIVE_STEP}
     WHERE w.depth < cardinality($2::text[])
  )`;

/** The conflict target of an insert into a folder: the live names (a trashed entry's name is free). */
const LIVE_NAME = `(parent_id, name) WHERE ${LIVE_STEP}`;

/**
 * PUT_FILE: the uploaded object ($4, with $5 size, $6 content type, $7 md5, $8 etag) becomes the
 * file $3 of folder `folder` (organization $1) when `when` holds: the file of that name gets it
 * (same id, new etag; the content it had becomes a version, object key and all, locked first so
 * that a concurrent overwrite is seen), or a new file row is added. Its result (PUT_FILE_RESULT)
 * is always one row: `existingKind` 'folder' is a name conflict, and no `id` with no
 * `existingKind` means another upload added the name meanwhile (ON CONFLICT waited for it): run
 * the commit again.
 */
function putFileSteps(folder: string, when: string): string {
  return `existing AS (
       SELECT id, kind, object_key, size, content_type, md5, etag, content_at FROM storage_entries
        WHERE parent_id = ${folder} AND name = $3 AND ${LIVE_STEP} FOR UPDATE
     ), updated AS (
       UPDATE storage_entries e SET object_key = $4, size = $5, content_type = $6, md5 = $7, etag = $8, content_at = now(), updated_at = now()
         FROM existing x WHERE e.id = x.id AND x.kind = 'file' AND ${when}
       RETURNING e.*
     ), versioned AS (
       INSERT INTO storage_file_versions (file_id, etag, object_key, size, content_type, md5, created_at)
       SELECT x.id, x.etag, x.object_key, x.size, x.content_type, x.md5, x.content_at FROM existing x JOIN updated u ON u.id = x.id
     ), inserted AS (
       INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
       SELECT $1, ${folder}, 'file', $3, $4, $5, $6, $7, $8 WHERE ${when} AND NOT EXISTS (SELECT 1 FROM existing)
       ON CONFLICT ${LIVE_NAME} DO NOTHING
       RETURNING *
     )`;
}
const PUT_FILE_RESULT = `(SELECT kind FROM existing) AS "existingKind", written.* FROM (SELECT 1) AS one LEFT JOIN (
       SELECT ${COLUMNS} FROM updated UNION ALL SELECT ${COLUMNS} FROM inserted
     ) AS written ON true`;

/**
 * COMMIT_UPLOAD: an upload's whole commit, for one autocommitted statement. Locks the pending
 * record of the object $4 (the orphan sweep skips it; gone: the sweep reclaimed the object, and
 * nothing is written), puts the object in `folder` when `when` holds (PUT_FILE), takes the pending
 * record only when the file was written (else it stays, and the object with it, for the caller to
 * try again or discard) and writes the file's text row with status $9 (PENDING or NOT_TEXT, see
 * SCHEDULE_TEXTS). Its result: `claimed` (the record was there) beside PUT_FILE_RESULT.
 */
function COMMIT_UPLOAD(folder: string, when: string): string {
  return `pending AS (SELECT 1 FROM storage_pending_objects WHERE object_key = $4 FOR UPDATE),
     ${putFileSteps(folder, `EXISTS (SELECT 1 FROM pending) AND ${when}`)},
     written AS (SELECT id, organization_id, etag FROM updated UNION ALL SELECT id, organization_id, etag FROM inserted),
     claimed AS (DELETE FROM storage_pending_objects WHERE object_key = $4 AND EXISTS (SELECT 1 FROM written)),
     text AS (${SCHEDULE_TEXTS('SELECT id, organization_id, etag, $9::text FROM written')})`;
}

/** The columns of `storage_file_versions` that are read, each as the field it is read into (times as in ENTRY_COLUMNS). */
const VERSION_COLUMNS: Columns<Omit<FileVersionRow, 'current'>> = {
  etag: 'etag',
  objectKey: 'object_key',
  size: float8('size'),
  contentType: 'content_type',
  md5: 'md5',
  createdAt: epochMs('created_at'),
};

/** The content a version has: the same columns in a storage_file_versions row and in its file's row (the current content). */
const CONTENT_FIELDS = ['etag', 'objectKey', 'size', 'contentType', 'md5'] as const;
const CURRENT_CONTENT = selectList(pick(ENTRY_COLUMNS, ...CONTENT_FIELDS));
const KEPT_CONTENT = selectList(pick(VERSION_COLUMNS, ...CONTENT_FIELDS));

/** The columns of `storage_pending_objects` that are read. */
const PENDING_COLUMNS: Columns<{ objectKey: string }> = { objectKey: 'object_key' };

/**
 * The tree of entry $1 (organization $2) to remove for good: the entry when `root` holds, and
 * everything below it but what is in the trash on its own (an item of its own, see PURGE).
 */
const BELOW = (root: string) => `
  WITH RECURSIVE below AS (
    SELECT id, kind FROM storage_entries WHERE id = $1 AND organization_id = $2 AND ${root}
    UNION ALL
    SELECT e.id, e.kind FROM storage_entries e JOIN below b ON e.parent_id = b.id WHERE e.${LIVE_STEP}
  )`;

/** Which entry PURGE removes: a live one ($3 null) or one trashed at or before $3. */
const PURGED_ROOT = `CASE WHEN $3::timestamptz IS NULL THEN ${LIVE_STEP} ELSE trashed_at <= $3::timestamptz END`;

/** A version is kept while it is among the newest $keep of its file (the current one included) or younger than $days. */
const EXPIRED_VERSION = (v: string, days: string, keep: string) => `${v}.created_at < now() - make_interval(days => ${days}::int)
   AND (SELECT count(*) FROM storage_file_versions w
         WHERE w.file_id = ${v}.file_id AND (w.created_at, w.etag) > (${v}.created_at, ${v}.etag)) >= ${keep}::int - 1`;

const SQL = {
  ensureRoot: statement(
    'storage.ensure-root',
    `WITH created AS (
       INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, NULL, 'folder', '')
       ON CONFLICT (organization_id) WHERE parent_id IS NULL DO NOTHING RETURNING *
     )
     SELECT ${COLUMNS} FROM created
     UNION ALL SELECT ${COLUMNS} FROM storage_entries WHERE organization_id = $1 AND parent_id IS NULL`,
  ),
  walk: statement('storage.walk', `${WALK} SELECT ${COLUMNS} FROM walk ORDER BY depth`),
  child: statement('storage.child', `SELECT ${COLUMNS} FROM storage_entries WHERE parent_id = $1 AND name = $2 AND ${LIVE_STEP}`),
  byId: statement('storage.by-id', `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1`),
  /**
   * $1 ids, $2 organization: the live rows with their absolute paths, in one statement however
   * many. The walk up that makes the path also tells whether it passes a trashed entry (the same
   * test as LIVE_BY_ID, without walking twice).
   */
  byIdsWithPaths: statement(
    'storage.by-ids-with-paths',
    `WITH RECURSIVE up AS (
       SELECT id AS start_id, parent_id, name, trashed_at, 0 AS depth FROM storage_entries
        WHERE id = ANY($1::uuid[]) AND organization_id = $2
       UNION ALL
       SELECT up.start_id, p.parent_id, p.name, p.trashed_at, up.depth + 1 FROM up JOIN storage_entries p ON p.id = up.parent_id
     ), paths AS (
       SELECT start_id, string_agg(name, '/' ORDER BY depth DESC) AS path FROM up GROUP BY start_id HAVING bool_and(${LIVE_STEP})
     )
     SELECT ${COLUMNS}, paths.path FROM storage_entries JOIN paths ON paths.start_id = storage_entries.id`,
  ),
  inOrganization: statement(
    'storage.in-organization',
    `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1 AND organization_id = $2 AND ${LIVE_BY_ID('id')}`,
  ),
  fileById: statement(
    'storage.file-by-id',
    `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1 AND kind = 'file' AND ${LIVE_BY_ID('id')}`,
  ),

  addFolder: statement(
    'storage.add-folder',
    `INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, $2, 'folder', $3)
     ON CONFLICT ${LIVE_NAME} DO NOTHING RETURNING ${COLUMNS}`,
  ),
  rename: statement(
    'storage.rename',
    `UPDATE storage_entries SET name = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 AND ${LIVE_STEP} RETURNING ${COLUMNS}`,
  ),
  lockMoves: statement('storage.lock-moves', `SELECT pg_advisory_xact_lock(hashtextextended('storage-move:' || $1, 0))`),
  isWithin: statement(
    'storage.is-within',
    `WITH RECURSIVE up AS (
       SELECT id, parent_id FROM storage_entries WHERE id = $1
       UNION ALL
       SELECT p.id, p.parent_id FROM storage_entries p JOIN up ON p.id = up.parent_id
     ) SELECT 1 FROM up WHERE id = $2 LIMIT 1`,
  ),
  move: statement(
    'storage.move',
    `UPDATE storage_entries SET parent_id = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 AND ${LIVE_STEP} RETURNING ${COLUMNS}`,
  ),
  /**
   * Moves live entry $1 (organization $2) to the trash, remembering its path $3: one row however
   * big its tree; `trashed` 0 when it was not there (any more). The tree is counted as it goes.
   */
  trash: statement(
    'storage.trash',
    `${BELOW(LIVE_STEP)}, trashed AS (
       UPDATE storage_entries SET trashed_at = now(), trashed_path = $3
        WHERE id = $1 AND organization_id = $2 AND ${LIVE_STEP} RETURNING id
     )
     SELECT (SELECT count(*) FROM trashed)::int AS trashed,
            (count(*) FILTER (WHERE kind = 'file'))::int AS files, (count(*) FILTER (WHERE kind = 'folder'))::int AS folders
       FROM below`,
  ),
  /**
   * PURGE: removes entry $1 (organization $2) for good with its tree and every version, when it
   * is live ($3 null) or was trashed at or before $3. Entries below it that are in the trash on
   * their own stay there (moved under the root $4: they are restored by their path). Answers one
   * row per removed entry and version (`kind` 'version'), with the object each had.
   */
  /** PURGE's entry, locked first: a restore that committed meanwhile is seen by PURGE's own snapshot. */
  lockPurged: statement(
    'storage.lock-purged',
    `SELECT id FROM storage_entries WHERE id = $1 AND organization_id = $2 AND ${PURGED_ROOT} FOR UPDATE`,
  ),
  purge: statement(
    'storage.purge',
    `${BELOW(PURGED_ROOT)},
     kept AS (
       UPDATE storage_entries e SET parent_id = $4 FROM below b WHERE e.parent_id = b.id AND e.trashed_at IS NOT NULL RETURNING e.id
     ), versions AS (
       DELETE FROM storage_file_versions v USING below b WHERE v.file_id = b.id RETURNING v.object_key
     ), removed AS (
       DELETE FROM storage_entries WHERE id IN (SELECT id FROM below) RETURNING kind, object_key
     )
     SELECT ${selectList(pick(ENTRY_COLUMNS, 'kind', 'objectKey'))} FROM removed UNION ALL SELECT 'version', object_key FROM versions`,
  ),
  /** Trash items of organization $1 trashed at or before $2, oldest first, at most $3. */
  trashedBefore: statement(
    'storage.trashed-before',
    `SELECT id FROM storage_entries WHERE organization_id = $1 AND trashed_at <= $2 ORDER BY trashed_at, id LIMIT $3`,
  ),
  /** Trash items of any organization trashed before now - $1 days, oldest first, at most $2. */
  expiredTrash: statement(
    'storage.expired-trash',
    `SELECT ${selectList(pick(ENTRY_COLUMNS, 'id', 'organizationId', 'trashedAt'))} FROM storage_entries
      WHERE trashed_at < now() - make_interval(days => $1::int) ORDER BY trashed_at, id LIMIT $2`,
  ),
  /** Trash item $1 of organization $2, locked for its restore. */
  lockTrashItem: statement(
    'storage.lock-trash-item',
    `SELECT ${TRASH_COLUMNS} FROM storage_entries WHERE id = $1 AND organization_id = $2 AND trashed_at IS NOT NULL FOR UPDATE`,
  ),
  /** Puts trash item $1 back as $3 in folder $2; a unique violation when the name is taken. */
  untrash: statement(
    'storage.untrash',
    `UPDATE storage_entries SET parent_id = $2, name = $3, trashed_at = NULL, trashed_path = NULL, updated_at = now()
      WHERE id = $1 AND trashed_at IS NOT NULL RETURNING ${COLUMNS}`,
  ),
  /** $1 folder, $2 names: those of them taken by live entries. */
  takenNames: statement(
    'storage.taken-names',
    `SELECT name FROM storage_entries WHERE parent_id = $1 AND name = ANY($2::text[]) AND ${LIVE_STEP}`,
  ),

  /** Live file $1 of organization $2, locked while its versions change. */
  lockFile: statement(
    'storage.lock-file',
    `SELECT id FROM storage_entries WHERE id = $1 AND organization_id = $2 AND kind = 'file' AND ${LIVE_STEP} FOR UPDATE`,
  ),
  /**
   * File $1's version $2 becomes its content again, as a new version (etag $3): the current
   * content becomes a version in turn. Both keep their objects (shared with the version restored
   * from: no copy). No row: no such version.
   */
  restoreVersion: statement(
    'storage.restore-version',
    `WITH target AS (
       SELECT object_key AS t_key, size AS t_size, content_type AS t_type, md5 AS t_md5 FROM storage_file_versions WHERE file_id = $1 AND etag = $2
       UNION ALL SELECT object_key, size, content_type, md5 FROM storage_entries WHERE id = $1 AND etag = $2
     ), kept AS (
       INSERT INTO storage_file_versions (file_id, etag, object_key, size, content_type, md5, created_at)
       SELECT id, etag, object_key, size, content_type, md5, content_at FROM storage_entries WHERE id = $1 AND EXISTS (SELECT 1 FROM target)
     )
     UPDATE storage_entries SET object_key = t_key, size = t_size, content_type = t_type, md5 = t_md5, etag = $3,
            content_at = now(), updated_at = now()
       FROM target WHERE id = $1 RETURNING ${COLUMNS}`,
  ),
  /** One version of file $1: $2 its etag. */
  version: statement(
    'storage.version',
    `SELECT ${CURRENT_CONTENT}, (extract(epoch FROM content_at) * 1000)::float8 AS "createdAt", true AS current FROM storage_entries WHERE id = $1 AND etag = $2
     UNION ALL
     SELECT ${selectList(VERSION_COLUMNS)}, false FROM storage_file_versions WHERE file_id = $1 AND etag = $2`,
  ),
  /** Up to $3 files with expired versions ($1 days, $2 kept), locked (the others' work is theirs). */
  lockFilesWithExpiredVersions: statement(
    'storage.lock-files-with-expired-versions',
    `SELECT e.id FROM storage_entries e
      WHERE e.id IN (SELECT v.file_id FROM storage_file_versions v WHERE ${EXPIRED_VERSION('v', '$1', '$2')} LIMIT $3)
      ORDER BY e.id FOR UPDATE SKIP LOCKED`,
  ),
  /**
   * Deletes the expired versions ($2 days, $3 kept) of files $1 (locked); the objects no version
   * or current content of the file still has (a restore shares them).
   */
  deleteExpiredVersions: statement(
    'storage.delete-expired-versions',
    `WITH doomed AS (
       DELETE FROM storage_file_versions v WHERE v.file_id = ANY($1::uuid[]) AND ${EXPIRED_VERSION('v', '$2', '$3')}
       RETURNING file_id, etag, object_key
     )
     SELECT DISTINCT ${selectList(pick(VERSION_COLUMNS, 'objectKey'), { from: 'd' })} FROM doomed d
      WHERE NOT EXISTS (SELECT 1 FROM storage_entries e WHERE e.id = d.file_id AND e.object_key = d.object_key)
        AND NOT EXISTS (SELECT 1 FROM storage_file_versions w WHERE w.file_id = d.file_id AND w.object_key = d.object_key
                          AND NOT EXISTS (SELECT 1 FROM doomed x WHERE x.file_id = w.file_id AND x.etag = w.etag))`,
  ),
  /** Kept versions of an organization's files (the trash's included), when the organization is deleted. */
  deleteOrganizationVersions: statement(
    'storage.delete-organization-versions',
    `DELETE FROM storage_file_versions v USING storage_entries e
      WHERE v.file_id = e.id AND e.organization_id = $1 RETURNING ${selectList(pick(VERSION_COLUMNS, 'objectKey'), { from: 'v' })}`,
  ),
  deleteOrganizationEntries: statement(
    'storage.delete-organization-entries',
    `DELETE FROM storage_entries WHERE organization_id = $1 RETURNING ${selectList(pick(ENTRY_COLUMNS, 'objectKey'))}`,
  ),
  addPending: statement('storage.add-pending', `INSERT INTO storage_pending_objects (object_key) VALUES ($1)`),
  removePending: statement('storage.remove-pending', `DELETE FROM storage_pending_objects WHERE object_key = $1`),
  claimOrphans: statement(
    'storage.claim-orphans',
    `DELETE FROM storage_pending_objects WHERE object_key IN (
       SELECT object_key FROM storage_pending_objects
        WHERE created_at <= now() - ($1::float8 * interval '1 millisecond')
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ) RETURNING ${selectList(PENDING_COLUMNS)}`,
  ),
  /**
   * An upload's commit: COMMIT_UPLOAD into the folder $2 (the names below the root of
   * organization $1, WALKed). `folderId` null: a folder on the way is missing.
   */
  commitUpload: statement(
    'storage.commit-upload',
    `${WALK},
     folder AS (SELECT id FROM walk WHERE depth = cardinality($2::text[]) AND kind = 'folder'),
     ${COMMIT_UPLOAD('(SELECT id FROM folder)', 'EXISTS (SELECT 1 FROM folder)')}
     SELECT EXISTS (SELECT 1 FROM pending) AS claimed, (SELECT id FROM folder) AS "folderId", ${PUT_FILE_RESULT}`,
  ),
  /** COMMIT_UPLOAD into the folder of id $2, once commitUpload found a folder on the way missing and it was made. */
  commitUploadInto: statement(
    'storage.commit-upload-into',
    `WITH ${COMMIT_UPLOAD('$2::uuid', 'true')} SELECT EXISTS (SELECT 1 FROM pending) AS claimed, $2::uuid AS "folderId", ${PUT_FILE_RESULT}`,
  ),
};

/** The listing statements: with or without a kind filter, a cursor and the count. */
function listingStatement(kind: boolean, after: boolean, count: boolean, brief: boolean) {
  // $1 folder, $2 page size + 1 (one row more than asked tells whether there is a next page).
  const live = `parent_id = $1 AND ${LIVE_STEP}`;
  const inFolder = kind ? `${live} AND (kind = 'file') = $3::boolean` : live;
  const cursor = after ? ` AND (${LISTING_KEY}) > ($${kind ? 4 : 3}::boolean, $${kind ? 5 : 4}::text COLLATE "C")` : '';
  const columns = brief ? BRIEF_CHILD_COLUMNS : CHILD_COLUMNS;
  const page = `SELECT ${columns} FROM storage_entries WHERE ${inFolder}${cursor} ORDER BY ${LISTING_KEY} LIMIT $2`;
  const name = `storage.list${kind ? '-kind' : ''}${after ? '-after' : ''}${count ? '-count' : ''}${brief ? '-brief' : ''}`;
  if (!count) return statement(name, page);
  // The count is of the whole folder (or kind), not of what follows the cursor.
  return statement(
    name,
    withTotal(`SELECT count(*)::int AS total FROM storage_entries WHERE ${inFolder}`, page, `(p.kind = 'file'), p.name COLLATE "C"`),
  );
}

/** The trash, newest first: keyset on (trashed_at, id) descending. */
function trashListingStatement(after: boolean, count: boolean) {
  const where = `organization_id = $1 AND trashed_at IS NOT NULL`;
  const cursor = after ? ` AND (trashed_at, id) < ($3::timestamptz, $4::uuid)` : '';
  const page = `SELECT ${TRASH_COLUMNS} FROM storage_entries WHERE ${where}${cursor} ORDER BY trashed_at DESC, id DESC LIMIT $2`;
  const name = `storage.trash-list${after ? '-after' : ''}${count ? '-count' : ''}`;
  if (!count) return statement(name, page);
  return statement(
    name,
    withTotal(
      // Kept as items come and go (trash_counts and its deltas, migration 1765800000000), not counted.
      `SELECT COALESCE(sum(n), 0)::int AS total
         FROM (SELECT n FROM trash_counts WHERE organization_id = $1 UNION ALL SELECT n FROM trash_count_deltas WHERE organization_id = $1) AS k`,
      page,
      `p."trashedAt" DESC, p.id DESC`,
    ),
  );
}

/**
 * A file's versions, newest first: the current content (the entry row) first, then the kept
 * ones by (created_at, etag) descending. After a cursor: $3 whether it was the current one, $4
 * and $5 the (created_at as epoch ms, etag) of the version it was.
 */
function versionListingStatement(after: boolean, count: boolean) {
  const all = `SELECT true AS current, ${CURRENT_CONTENT}, content_at AS at FROM storage_entries WHERE id = $1 AND kind = 'file'
     UNION ALL SELECT false, ${KEPT_CONTENT}, created_at FROM storage_file_versions WHERE file_id = $1`;
  const cursor = after ? ` WHERE NOT v.current AND ($3::boolean OR (v.at, v.etag) < (to_timestamp($4::float8 / 1000), $5::text))` : '';
  const page = `SELECT v.current, v.etag, v."objectKey", v.size, v."contentType", v.md5, (extract(epoch FROM v.at) * 1000)::float8 AS "createdAt"
    FROM (${all}) AS v${cursor} ORDER BY v.current DESC, v.at DESC, v.etag DESC LIMIT $2`;
  const name = `storage.versions${after ? '-after' : ''}${count ? '-count' : ''}`;
  if (!count) return statement(name, page);
  return statement(
    name,
    withTotal(
      `SELECT (1 + (SELECT count(*) FROM storage_file_versions WHERE file_id = $1))::int AS total`,
      page,
      `p.current DESC, p."createdAt" DESC, p.etag DESC`,
    ),
  );
}

const TRASH_LISTINGS = new Map<string, Statement>();
const VERSION_LISTINGS = new Map<string, Statement>();
for (const after of [false, true]) {
  for (const count of [false, true]) {
    TRASH_LISTINGS.set(`${after}${count}`, trashListingStatement(after, count));
    VERSION_LISTINGS.set(`${after}${count}`, versionListingStatement(after, count));
  }
}

const LISTINGS = new Map<string, Statement>();
for (const kind of [false, true]) {
  for (const after of [false, true]) {
    for (const count of [false, true]) {
      for (const brief of [false, true]) LISTINGS.set(`${kind}${after}${count}${brief}`, listingStatement(kind, after, count, brief));
    }
  }
}

/** Where a listing page starts: after the entry with this sort key. */
export interface ListingKey {
  isFile: boolean;
  name: string;
}

/** A page of a folder's children, maybe of one kind only. */
export interface ChildrenQuery extends PageQuery<ListingKey> {
  kind?: 'file' | 'folder' | null;
  /** Leave what BRIEF_CHILD_COLUMNS leaves out of the rows (undefined): the caller reads none of it. */
  brief?: boolean;
}

/** Where a trash page starts: after the item trashed at this time with this id. */
export interface TrashPosition {
  trashedAt: Date;
  id: string;
}

/** Where a versions page starts: after the current content, or after the kept version of this time and etag. */
export interface VersionPosition {
  current: boolean;
  createdAt: number;
  etag: string;
}

/** A version of a file: the current content or a kept one. Its etag is its id. */
export interface FileVersionRow {
  current: boolean;
  etag: string;
  objectKey: string;
  size: number;
  contentType: string;
  md5: string;
  createdAt: Date;
}

/** What a tree holds (the entry itself included). */
export interface TreeCount {
  files: number;
  folders: number;
}

export interface Purged extends TreeCount {
  /** Every object the removed files and versions had, once each. */
  objectKeys: string[];
}

export interface FileContent {
  objectKey: string;
  size: number;
  contentType: string;
  md5: string;
  etag: string;
}

export interface PutFile {
  row: StorageEntry;
}

type PutFileRow = StorageEntry & { existingKind: string | null };

const contentValues = (c: FileContent) => [c.objectKey, c.size, c.contentType, c.md5, c.etag];

/** What PUT_FILE did: null when another upload added the name meanwhile. */
function putFileResult(result: PutFileRow, path: string): PutFile | null {
  if (result.existingKind === 'folder') throw new AppError(ErrorCode.NAME_CONFLICT, `${JSON.stringify(path)} is a folder`);
  if (result.id === null) return null;
  const { existingKind: _kind, ...row } = result;
  return { row: entry(row as StorageEntry) };
}

export interface UploadCommit {
  /** False: the pending record was gone (the orphan sweep reclaimed the object); nothing was written. */
  claimed: boolean;
  folderId: string | null;
  written: PutFile | null;
}

type UploadCommitRow = PutFileRow & { claimed: boolean; folderId: string | null };

function uploadCommit(result: UploadCommitRow, path: string): UploadCommit {
  const { claimed, folderId, ...row } = result;
  if (!claimed) return { claimed, folderId, written: null };
  return { claimed, folderId, written: putFileResult(row as PutFileRow, path) };
}

const nameConflict = (path: string) => new AppError(ErrorCode.NAME_CONFLICT, `An entry named ${JSON.stringify(path)} already exists`);

/**
 * The organization tree in Postgres: folders and files as rows with parent pointers (a rename or
 * move is one row), and the pending records of objects being written.
 */
export class EntryStore {
  constructor(readonly sql: StatementRunner) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.sql.transaction(work);
  }

  // ---------------------------------------------------------------- reads

  /** The organization's root folder, created on first use. */
  async ensureRoot(organizationId: string): Promise<StorageEntry> {
    for (;;) {
      const row = await this.sql.first<StorageEntry>(SQL.ensureRoot, [organizationId]);
      // Empty only when a concurrent first use inserted it after this statement's snapshot.
      if (row) return entry(row);
    }
  }

  /** The rows along `segments` from the root, one per level that exists (index = depth). */
  async walk(organizationId: string, segments: readonly string[], tx?: EntityManager): Promise<StorageEntry[]> {
    return entries(await this.sql.rows<StorageEntry>(SQL.walk, [organizationId, segments], tx));
  }

  async child(parentId: string, name: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.child, [parentId, name]));
  }

  /** The organization's entry of this id. */
  async byId(organizationId: string, id: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.inOrganization, [id, organizationId]));
  }

  /** Entries of these ids that belong to the organization (others are silently absent), with their paths. */
  async byIdsWithPaths(organizationId: string, ids: readonly string[]): Promise<Array<StorageEntry & { path: string }>> {
    const rows = entries(await this.sql.rows<StorageEntry & { path: string }>(SQL.byIdsWithPaths, [ids, organizationId]));
    for (const row of rows) if (row.path === '') row.path = '/';
    return rows;
  }

  /** Any organization's file. */
  async fileById(id: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.fileById, [id]));
  }

  /** One page of a folder's children in listing order, after `after`; the count only when asked. */
  async listChildren(folder: { id: string; organizationId: string }, query: ChildrenQuery): Promise<Page<StorageEntry>> {
    const values: unknown[] = [folder.id, query.first + 1];
    if (query.kind) values.push(query.kind === 'file');
    if (query.after) values.push(query.after.isFile, query.after.name);
    const listing = LISTINGS.get(`${!!query.kind}${!!query.after}${query.count}${!!query.brief}`)!;
    const page = pageOf(await this.sql.rows<StorageEntry & { total?: number }>(listing, values), query);
    for (const row of entries(page.rows)) {
      row.organizationId = folder.organizationId;
      row.parentId = folder.id;
    }
    return page;
  }

  // ---------------------------------------------------------------- folders

  /**
   * `mkdir -p` inside `tx`: the deepest folder's row. `rootId` comes from the caller, known before
   * the transaction (finding it here would take a second pool connection while `tx` holds one).
   */
  async makeFolders(tx: EntityManager, organizationId: string, rootId: string, segments: readonly string[]): Promise<StorageEntry> {
    const levels = await this.walk(organizationId, segments, tx);
    const depth = levels.length - 1;
    let folder = levels[depth];
    if (folder && folder.kind === 'file') throw nameConflict(joinPath(segments.slice(0, depth)));
    let parentId = folder?.id ?? rootId;
    for (let i = Math.max(depth, 0); i < segments.length; i++) {
      const added = entryOrNull(await this.sql.first<StorageEntry>(SQL.addFolder, [organizationId, parentId, segments[i]], tx));
      if (!added) {
        // Someone created it meanwhile (the INSERT waited for their commit), or it is a file.
        const existing = entryOrNull(await this.sql.first<StorageEntry>(SQL.child, [parentId, segments[i]], tx));
        if (!existing || existing.kind !== 'folder') throw nameConflict(joinPath(segments.slice(0, i + 1)));
        folder = existing;
      } else {
        folder = added;
      }
      parentId = folder.id;
    }
    return folder ?? entry((await this.sql.first<StorageEntry>(SQL.byId, [rootId], tx))!);
  }

  // ---------------------------------------------------------------- rename, move, delete

  /** Null when the entry is gone; a unique violation when the name is taken. */
  async rename(organizationId: string, id: string, name: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.rename, [id, organizationId, name]));
  }

  /** Serialises folder moves of one organization until `tx` ends (two opposite moves could build a loop). */
  async lockMoves(tx: EntityManager, organizationId: string): Promise<void> {
    await this.sql.run(SQL.lockMoves, [organizationId], tx);
  }

  /** Whether `id` is `ancestorId` or one of its descendants. */
  async isWithin(tx: EntityManager, id: string, ancestorId: string): Promise<boolean> {
    return (await this.sql.rows(SQL.isWithin, [id, ancestorId], tx)).length > 0;
  }

  async move(tx: EntityManager, organizationId: string, id: string, parentId: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.move, [id, organizationId, parentId], tx));
  }

  // ---------------------------------------------------------------- trash

  /** Moves a live entry to the trash (one row); null when it is not live (any more), else what its tree holds. */
  async trash(organizationId: string, id: string, path: string): Promise<TreeCount | null> {
    const row = (await this.sql.first<TreeCount & { trashed: number }>(SQL.trash, [id, organizationId, path]))!;
    return row.trashed ? { files: row.files, folders: row.folders } : null;
  }

  /**
   * Removes an entry for good with its tree and versions: a live one (`trashedBy` null) or a
   * trash item trashed at or before `trashedBy`. Trash items of their own below it stay in the
   * trash, moved under the root `rootId`. What was removed (none: it was not there any more), and
   * the objects to delete.
   */
  async purge(tx: EntityManager, organizationId: string, rootId: string, id: string, trashedBy: Date | 'infinity' | null): Promise<Purged> {
    // Locked in a statement of its own: PURGE then sees whatever a restore holding it committed.
    if (!(await this.sql.first(SQL.lockPurged, [id, organizationId, trashedBy], tx))) return { files: 0, folders: 0, objectKeys: [] };
    const rows = await this.sql.rows<{ kind: string; objectKey: string | null }>(SQL.purge, [id, organizationId, trashedBy, rootId], tx);
    const objectKeys = new Set<string>();
    let files = 0;
    let folders = 0;
    for (const row of rows) {
      if (row.kind === 'file') files++;
      else if (row.kind === 'folder') folders++;
      if (row.objectKey) objectKeys.add(row.objectKey);
    }
    return { files, folders, objectKeys: [...objectKeys] };
  }

  /** Up to `limit` ids of the organization's trash items trashed at or before `by`, oldest first. */
  async trashedBefore(tx: EntityManager, organizationId: string, by: Date | 'infinity', limit: number): Promise<string[]> {
    return (await this.sql.rows<{ id: string }>(SQL.trashedBefore, [organizationId, by, limit], tx)).map((r) => r.id);
  }

  /** Up to `limit` trash items of any organization older than `days`, oldest first. */
  async expiredTrash(days: number, limit: number): Promise<Array<Pick<TrashedEntry, 'id' | 'organizationId' | 'trashedAt'>>> {
    return entries(await this.sql.rows<Pick<TrashedEntry, 'id' | 'organizationId' | 'trashedAt'>>(SQL.expiredTrash, [days, limit]));
  }

  /** One page of the organization's trash, newest first. */
  async listTrash(organizationId: string, query: PageQuery<TrashPosition>): Promise<Page<TrashedEntry>> {
    const values: unknown[] = [organizationId, query.first + 1];
    if (query.after) values.push(query.after.trashedAt, query.after.id);
    const listing = TRASH_LISTINGS.get(`${!!query.after}${query.count}`)!;
    const page = pageOf(await this.sql.rows<TrashedEntry & { total?: number }>(listing, values), query);
    entries(page.rows);
    return page;
  }

  /** Inside `tx`: the organization's trash item, locked until `tx` ends; null when there is none of this id. */
  async lockTrashItem(tx: EntityManager, organizationId: string, id: string): Promise<TrashedEntry | null> {
    return entryOrNull(await this.sql.first<TrashedEntry>(SQL.lockTrashItem, [id, organizationId], tx));
  }

  /** Inside `tx`: the trash item is live again, as `name` in `folderId`; a unique violation when the name is taken. */
  async untrash(tx: EntityManager, id: string, folderId: string, name: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.untrash, [id, folderId, name], tx));
  }

  /** Which of `names` live entries of the folder have. */
  async takenNames(tx: EntityManager, folderId: string, names: readonly string[]): Promise<Set<string>> {
    return new Set((await this.sql.rows<{ name: string }>(SQL.takenNames, [folderId, names], tx)).map((r) => r.name));
  }

  // ---------------------------------------------------------------- versions

  /** Inside `tx`: locks the organization's live file until `tx` ends; false when there is none of this id. */
  async lockFile(tx: EntityManager, organizationId: string, id: string): Promise<boolean> {
    return (await this.sql.first(SQL.lockFile, [id, organizationId], tx)) !== null;
  }

  /** Inside `tx` (the file locked): version `etag` of the file is current again, as a new version `newEtag`; null: no such version. */
  async restoreVersion(tx: EntityManager, fileId: string, etag: string, newEtag: string): Promise<StorageEntry | null> {
    return entryOrNull(await this.sql.first<StorageEntry>(SQL.restoreVersion, [fileId, etag, newEtag], tx));
  }

  /** One version of the file (the current content included), or null. */
  async version(fileId: string, etag: string): Promise<FileVersionRow | null> {
    const row = await this.sql.first<FileVersionRow>(SQL.version, [fileId, etag]);
    if (row) row.createdAt = new Date(row.createdAt as unknown as number);
    return row;
  }

  /** One page of the file's versions, newest first, the current content first of all. */
  async listVersions(fileId: string, query: PageQuery<VersionPosition>): Promise<Page<FileVersionRow>> {
    const values: unknown[] = [fileId, query.first + 1];
    if (query.after) values.push(query.after.current, query.after.createdAt, query.after.etag);
    const listing = VERSION_LISTINGS.get(`${!!query.after}${query.count}`)!;
    const rows = await this.sql.rows<FileVersionRow & { total?: number; id?: unknown }>(listing, values);
    // pageOf tells the count row of an empty page by its null id: versions are keyed by etag.
    for (const row of rows) row.id = row.etag;
    const page = pageOf(rows as Array<FileVersionRow & { id: unknown; total?: number }>, query);
    for (const row of page.rows) row.createdAt = new Date(row.createdAt as unknown as number);
    return page;
  }

  /**
   * One batch of version expiry, in its own transaction: locks up to `limit` files with expired
   * versions (`days`, `keep`), deletes those versions and hands the objects no longer used to
   * `drop` (inside the transaction). How many files were handled (0: nothing left).
   */
  async expireVersions(
    days: number,
    keep: number,
    limit: number,
    drop: (tx: EntityManager, keys: string[]) => Promise<void>,
  ): Promise<number> {
    return this.transaction(async (tx) => {
      const files = (await this.sql.rows<{ id: string }>(SQL.lockFilesWithExpiredVersions, [days, keep, limit], tx)).map((r) => r.id);
      if (!files.length) return 0;
      // A statement of its own, after the locks: it sees what restores that held them committed.
      const keys = await this.sql.rows<{ objectKey: string }>(SQL.deleteExpiredVersions, [files, days, keep], tx);
      await drop(
        tx,
        keys.map((k) => k.objectKey),
      );
      return files.length;
    });
  }

  /** Inside `tx`: removes the organization's whole tree and kept versions; the object keys they held, each once. */
  async deleteOrganization(tx: EntityManager, organizationId: string): Promise<string[]> {
    // Versions first (they point at their files); a restored version shares its object with another row.
    const versions = await this.sql.rows<{ objectKey: string }>(SQL.deleteOrganizationVersions, [organizationId], tx);
    const entries = await this.sql.rows<{ objectKey: string | null }>(SQL.deleteOrganizationEntries, [organizationId], tx);
    return [...new Set([...versions, ...entries].map((e) => e.objectKey).filter((key): key is string => key !== null))];
  }

  // ---------------------------------------------------------------- uploads

  /** Records an object about to be written, so that the sweeper finds it if its upload never commits. */
  async addPending(objectKey: string): Promise<void> {
    await this.sql.run(SQL.addPending, [objectKey]);
  }

  async removePending(objectKey: string): Promise<void> {
    await this.sql.run(SQL.removePending, [objectKey]);
  }

  /**
   * An upload's commit, one autocommitted statement (COMMIT_UPLOAD): when all of `folder` exists,
   * `content.objectKey` becomes the file `name` there, its pending record is taken and its text
   * row written with `textStatus`. `written` is null when the record was gone (`claimed` false),
   * a folder is missing (`folderId` null: make it, then commitUploadInto) or another upload added
   * the name meanwhile (run it again).
   */
  async commitUpload(
    organizationId: string,
    folder: readonly string[],
    name: string,
    content: FileContent,
    textStatus: 'PENDING' | 'NOT_TEXT',
    path: string,
  ): Promise<UploadCommit> {
    return uploadCommit(
      (await this.sql.first<UploadCommitRow>(SQL.commitUpload, [organizationId, folder, name, ...contentValues(content), textStatus]))!,
      path,
    );
  }

  /** commitUpload into the folder of this id. */
  async commitUploadInto(
    organizationId: string,
    folderId: string,
    name: string,
    content: FileContent,
    textStatus: 'PENDING' | 'NOT_TEXT',
    path: string,
  ): Promise<UploadCommit> {
    return uploadCommit(
      (await this.sql.first<UploadCommitRow>(SQL.commitUploadInto, [
        organizationId,
        folderId,
        name,
        ...contentValues(content),
        textStatus,
      ]))!,
      path,
    );
  }

  /** Inside `tx`: takes up to `limit` pending records older than `olderThanMs`, locked until `tx` ends. */
  async claimOrphans(tx: EntityManager, olderThanMs: number, limit: number): Promise<string[]> {
    const rows = await this.sql.rows<{ objectKey: string }>(SQL.claimOrphans, [olderThanMs, limit], tx);
    return rows.map((r) => r.objectKey);
  }
}
