import type { EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../graphql/errors';
import { joinPath } from './names';
import { Page, pageOf, PageQuery, withTotal } from '../db/page';
import { Statement, statement, StatementRunner } from '../db/statements';
import type { StorageEntry } from './storage-entry';

// Every statement on `storage_entries` and `storage_pending_objects`, and nothing else: the
// services above decide what to run and when, and own the transactions.

/**
 * The columns of a row, named as StorageEntry's fields. Times as epoch milliseconds (made Dates
 * by `entry`): parsing Postgres's timestamp text was a twentieth of a listing's CPU time.
 */
const COLUMNS = `id, organization_id AS "organizationId", parent_id AS "parentId", kind, name,
  object_key AS "objectKey", size::float8 AS size, content_type AS "contentType", md5, etag,
  (extract(epoch FROM created_at) * 1000)::float8 AS "createdAt", (extract(epoch FROM updated_at) * 1000)::float8 AS "updatedAt"`;

/** COLUMNS but the two that a folder's children share with it (read as many times as there are children). */
const CHILD_COLUMNS = COLUMNS.replace(`organization_id AS "organizationId", parent_id AS "parentId", `, '');

/** A row as selected by COLUMNS, made a StorageEntry (in place). */
function entry<T extends StorageEntry>(row: T): T {
  row.createdAt = new Date(row.createdAt as unknown as number);
  row.updatedAt = new Date(row.updatedAt as unknown as number);
  return row;
}
const entries = <T extends StorageEntry>(rows: T[]): T[] => {
  for (const row of rows) entry(row);
  return rows;
};
const entryOrNull = <T extends StorageEntry>(row: T | null): T | null => (row ? entry(row) : null);

/** Listing order: folders first, then by name bytewise (index storage_entries_listing). */
const LISTING_KEY = `(kind = 'file'), name COLLATE "C"`;

/** Walks `$2` (text[] of names) down from the root of organization `$1`: one row per level reached. */
const WALK = `
  WITH RECURSIVE walk AS (
    SELECT e.*, 0 AS depth FROM storage_entries e WHERE e.organization_id = $1 AND e.parent_id IS NULL
    UNION ALL
    SELECT e.*, w.depth + 1 FROM walk w
      JOIN storage_entries e ON e.parent_id = w.id AND e.name = ($2::text[])[w.depth + 1]
     WHERE w.depth < cardinality($2::text[])
  )`;

/**
 * PUT_FILE: the uploaded object ($4, with $5 size, $6 content type, $7 md5, $8 etag) becomes the
 * file $3 of folder `folder` (organization $1) when `when` holds: the file of that name gets it
 * (same id, new etag; `replaced` is the object it had, locked first so that a concurrent
 * overwrite is seen), or a new file row is added. Its result (PUT_FILE_RESULT) is always one
 * row: `existingKind` 'folder' is a name conflict, and no `id` with no `existingKind` means
 * another upload added the name meanwhile (ON CONFLICT waited for it): run putFile again.
 */
function putFileSteps(folder: string, when: string): string {
  return `existing AS (
       SELECT id, kind, object_key FROM storage_entries WHERE parent_id = ${folder} AND name = $3 FOR UPDATE
     ), updated AS (
       UPDATE storage_entries e SET object_key = $4, size = $5, content_type = $6, md5 = $7, etag = $8, updated_at = now()
         FROM existing x WHERE e.id = x.id AND x.kind = 'file' AND ${when}
       RETURNING e.*, x.object_key AS replaced
     ), inserted AS (
       INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
       SELECT $1, ${folder}, 'file', $3, $4, $5, $6, $7, $8 WHERE ${when} AND NOT EXISTS (SELECT 1 FROM existing)
       ON CONFLICT (parent_id, name) DO NOTHING
       RETURNING *, NULL::text AS replaced
     )`;
}
const PUT_FILE_RESULT = `(SELECT kind FROM existing) AS "existingKind", written.* FROM (SELECT 1) AS one LEFT JOIN (
       SELECT ${COLUMNS}, replaced FROM updated UNION ALL SELECT ${COLUMNS}, replaced FROM inserted
     ) AS written ON true`;

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
  child: statement('storage.child', `SELECT ${COLUMNS} FROM storage_entries WHERE parent_id = $1 AND name = $2`),
  byId: statement('storage.by-id', `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1`),
  /** $1 ids, $2 organization: the rows with their absolute paths, in one statement however many. */
  byIdsWithPaths: statement(
    'storage.by-ids-with-paths',
    `WITH RECURSIVE up AS (
       SELECT id AS start_id, parent_id, name, 0 AS depth FROM storage_entries
        WHERE id = ANY($1::uuid[]) AND organization_id = $2
       UNION ALL
       SELECT up.start_id, p.parent_id, p.name, up.depth + 1 FROM up JOIN storage_entries p ON p.id = up.parent_id
     ), paths AS (
       SELECT start_id, string_agg(name, '/' ORDER BY depth DESC) AS path FROM up GROUP BY start_id
     )
     SELECT ${COLUMNS}, paths.path FROM storage_entries JOIN paths ON paths.start_id = storage_entries.id`,
  ),
  inOrganization: statement('storage.in-organization', `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1 AND organization_id = $2`),
  fileById: statement('storage.file-by-id', `SELECT ${COLUMNS} FROM storage_entries WHERE id = $1 AND kind = 'file'`),

  addFolder: statement(
    'storage.add-folder',
    `INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, $2, 'folder', $3)
     ON CONFLICT (parent_id, name) DO NOTHING RETURNING ${COLUMNS}`,
  ),
  rename: statement(
    'storage.rename',
    `UPDATE storage_entries SET name = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 RETURNING ${COLUMNS}`,
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
    `UPDATE storage_entries SET parent_id = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 RETURNING ${COLUMNS}`,
  ),
  deleteTree: statement(
    'storage.delete-tree',
    `WITH RECURSIVE below AS (
       SELECT id FROM storage_entries WHERE id = $1 AND organization_id = $2
       UNION ALL
       SELECT e.id FROM storage_entries e JOIN below b ON e.parent_id = b.id
     )
     DELETE FROM storage_entries WHERE id IN (SELECT id FROM below) RETURNING kind, object_key AS "objectKey"`,
  ),
  addPending: statement('storage.add-pending', `INSERT INTO storage_pending_objects (object_key) VALUES ($1)`),
  removePending: statement('storage.remove-pending', `DELETE FROM storage_pending_objects WHERE object_key = $1`),
  claimOrphans: statement(
    'storage.claim-orphans',
    `DELETE FROM storage_pending_objects WHERE object_key IN (
       SELECT object_key FROM storage_pending_objects
        WHERE created_at <= now() - ($1::float8 * interval '1 millisecond')
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ) RETURNING object_key`,
  ),
  /**
   * An upload's commit, in one statement for the common case: takes its pending record (gone
   * when the sweeper reclaimed the object), finds the folder ($1 organization, $2 its names) and
   * puts the object there (PUT_FILE). `folderId` null: a folder on the way is missing.
   */
  commitUpload: statement(
    'storage.commit-upload',
    `${WALK},
     claimed AS (DELETE FROM storage_pending_objects WHERE object_key = $4 RETURNING 1),
     folder AS (SELECT id FROM walk WHERE depth = cardinality($2::text[]) AND kind = 'folder'),
     ${putFileSteps('(SELECT id FROM folder)', 'EXISTS (SELECT 1 FROM claimed) AND EXISTS (SELECT 1 FROM folder)')}
     SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, (SELECT id FROM folder) AS "folderId", ${PUT_FILE_RESULT}`,
  ),
  /** PUT_FILE into the folder $2, for a commit that had to create folders or lost a race for the name. */
  putFile: statement('storage.put-file', `WITH ${putFileSteps('$2::uuid', 'true')} SELECT ${PUT_FILE_RESULT}`),
};

/** The listing statements: with or without a kind filter, a cursor and the count. */
function listingStatement(kind: boolean, after: boolean, count: boolean) {
  // $1 folder, $2 page size + 1 (one row more than asked tells whether there is a next page).
  const inFolder = kind ? `parent_id = $1 AND (kind = 'file') = $3::boolean` : 'parent_id = $1';
  const cursor = after ? ` AND (${LISTING_KEY}) > ($${kind ? 4 : 3}::boolean, $${kind ? 5 : 4}::text COLLATE "C")` : '';
  const page = `SELECT ${CHILD_COLUMNS} FROM storage_entries WHERE ${inFolder}${cursor} ORDER BY ${LISTING_KEY} LIMIT $2`;
  const name = `storage.list${kind ? '-kind' : ''}${after ? '-after' : ''}${count ? '-count' : ''}`;
  if (!count) return statement(name, page);
  // The count is of the whole folder (or kind), not of what follows the cursor.
  return statement(
    name,
    withTotal(`SELECT count(*)::int AS total FROM storage_entries WHERE ${inFolder}`, page, `(p.kind = 'file'), p.name COLLATE "C"`),
  );
}

const LISTINGS = new Map<string, Statement>();
for (const kind of [false, true]) {
  for (const after of [false, true]) {
    for (const count of [false, true]) LISTINGS.set(`${kind}${after}${count}`, listingStatement(kind, after, count));
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
  /** The object the file had before, now to be deleted. */
  replaced: string | null;
}

type PutFileRow = StorageEntry & { existingKind: string | null; replaced: string | null };

const contentValues = (c: FileContent) => [c.objectKey, c.size, c.contentType, c.md5, c.etag];

/** What PUT_FILE did: null when another upload added the name meanwhile. */
function putFileResult(result: PutFileRow, path: string): PutFile | null {
  if (result.existingKind === 'folder') throw new AppError(ErrorCode.NAME_CONFLICT, `${JSON.stringify(path)} is a folder`);
  if (result.id === null) return null;
  const { existingKind: _kind, replaced, ...row } = result;
  return { row: entry(row as StorageEntry), replaced };
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
    const listing = LISTINGS.get(`${!!query.kind}${!!query.after}${query.count}`)!;
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

  /** Deletes the entry and everything below it; what was deleted. */
  deleteTree(tx: EntityManager, organizationId: string, id: string): Promise<Array<{ kind: string; objectKey: string | null }>> {
    return this.sql.rows(SQL.deleteTree, [id, organizationId], tx);
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
   * Inside `tx`, an upload's commit: takes the pending record of `content.objectKey` and, when
   * all of `folder` exists, puts the object there. `written` is null when the record was gone
   * (`claimed` false), a folder is missing (`folderId` null) or another upload won the name
   * (then `putFile`).
   */
  async commitUpload(
    tx: EntityManager,
    organizationId: string,
    folder: readonly string[],
    name: string,
    content: FileContent,
    path: string,
  ): Promise<{ claimed: boolean; folderId: string | null; written: PutFile | null }> {
    const result = (await this.sql.first<PutFileRow & { claimed: boolean; folderId: string | null }>(
      SQL.commitUpload,
      [organizationId, folder, name, ...contentValues(content)],
      tx,
    ))!;
    if (!result.claimed) return { claimed: false, folderId: result.folderId, written: null };
    return { claimed: true, folderId: result.folderId, written: putFileResult(result, path) };
  }

  /** Inside `tx`: the file `name` of the folder now has `content`; `replaced` is the object it had. */
  async putFile(
    tx: EntityManager,
    organizationId: string,
    folderId: string,
    name: string,
    content: FileContent,
    path: string,
  ): Promise<PutFile> {
    for (;;) {
      const result = (await this.sql.first<PutFileRow>(SQL.putFile, [organizationId, folderId, name, ...contentValues(content)], tx))!;
      const written = putFileResult(result, path);
      if (written) return written;
    }
  }

  /** Inside `tx`: takes up to `limit` pending records older than `olderThanMs`, locked until `tx` ends. */
  async claimOrphans(tx: EntityManager, olderThanMs: number, limit: number): Promise<string[]> {
    const rows = await this.sql.rows<{ object_key: string }>(SQL.claimOrphans, [olderThanMs, limit], tx);
    return rows.map((r) => r.object_key);
  }
}
