import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { DataSource, EntityManager } from 'typeorm';
import type { Queue } from '../queue/queue';
import { AppError, ErrorCode } from '../graphql/errors';
import { metrics } from '../observability/metrics';
import { decodeCursor, encodeCursor } from '../graphql/relay';
import type { ByteRange, StorageDriver } from './backend/driver';
import { chooseContentType } from './content-type';
import { COLUMNS, isUuid, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, pgCode, retryOnDeadlock, WALK } from './entry-sql';
import { enqueueObjectDeletion } from './events/object-deletion';
import { sweepOrphans } from './events/orphan-sweeper';
import { checkPathLength, joinPath, normalizeName, parsePath } from './names';
import type { StorageEntry } from './storage-entry.entity';
import { UploadLimit } from './upload-limit';
import type { UrlSigner } from './url-signer';

const CHILDREN_CURSOR = 'entries';
export const DEFAULT_DELETION_DELAY_SECONDS = 60;
export const DEFAULT_URL_EXPIRY_SECONDS = 3600;
/** GCS V4 signed URLs last at most 7 days; the disk driver keeps the same bound. */
export const MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600;

export interface ChildrenPage {
  rows: StorageEntry[];
  cursors: string[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface UploadInput {
  folder: string;
  name: string;
  source: Readable;
  /** As sent by the client; octet-stream or empty means "guess from the name". */
  contentType?: string | null;
}

const nameConflict = (path: string) => new AppError(ErrorCode.NAME_CONFLICT, `An entry named ${JSON.stringify(path)} already exists`);
const notFound = (path: string) => new AppError(ErrorCode.NOT_FOUND, `Nothing at ${JSON.stringify(path)}`);

/**
 * The organization tree: folders and files as rows with parent pointers, bytes as immutable
 * objects behind a driver. Renames and moves change one row; objects are deleted only by jobs
 * sent in the transaction that dropped them.
 */
export class StorageService {
  private readonly roots = new Map<string, string>();
  /**
   * How long a replaced or deleted object outlives its row, so that downloads already streaming
   * it (through the gateway or a signed URL) can finish. Tests set 0.
   */
  deletionDelaySeconds = DEFAULT_DELETION_DELAY_SECONDS;

  constructor(
    private readonly db: DataSource,
    private readonly queue: Queue,
    /** Swappable (tests wrap it to count calls). */
    public driver: StorageDriver,
    private readonly signer: UrlSigner,
    readonly maxUploadBytes: number,
  ) {}

  // ---------------------------------------------------------------- reads

  /**
   * The root folder's id, created on first use. Always in its own statement outside the caller's
   * transaction: caching an id that a transaction later rolls back would poison every later call.
   */
  async rootId(organizationId: string): Promise<string> {
    const known = this.roots.get(organizationId);
    if (known) return known;
    const manager = this.db.manager;
    const inserted = await manager.query(
      `INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, NULL, 'folder', '')
       ON CONFLICT (organization_id) WHERE parent_id IS NULL DO NOTHING RETURNING id`,
      [organizationId],
    );
    const id: string =
      inserted[0]?.id ??
      (await manager.query(`SELECT id FROM storage_entries WHERE organization_id = $1 AND parent_id IS NULL`, [organizationId]))[0].id;
    this.roots.set(organizationId, id);
    return id;
  }

  async findByPath(organizationId: string, path: string, manager: EntityManager = this.db.manager): Promise<StorageEntry | null> {
    const segments = parsePath(path);
    await this.rootId(organizationId);
    const rows = await manager.query(
      `${WALK} SELECT ${COLUMNS} FROM storage_entries WHERE id = (SELECT id FROM walk WHERE depth = cardinality($2::text[]))`,
      [organizationId, segments],
    );
    return rows[0] ?? null;
  }

  async findById(organizationId: string, id: string): Promise<StorageEntry | null> {
    return (await this.findByIds(organizationId, [id]))[0] ?? null;
  }

  /** Any organization's file; only for requests that proved access another way (a signed URL for this id). */
  async findFileById(id: string): Promise<StorageEntry | null> {
    if (!isUuid(id)) return null;
    const rows = await this.db.query(`SELECT ${COLUMNS} FROM storage_entries WHERE id = $1 AND kind = 'file'`, [id]);
    return rows[0] ?? null;
  }

  /** Rows of these ids that belong to the organization (others are silently absent). */
  async findByIds(organizationId: string, ids: readonly string[]): Promise<StorageEntry[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    return this.db.query(`SELECT ${COLUMNS} FROM storage_entries WHERE id = ANY($1::uuid[]) AND organization_id = $2`, [valid, organizationId]);
  }

  /** Absolute paths of entries, in one query however many there are. */
  async pathsOf(organizationId: string, ids: readonly string[]): Promise<Map<string, string>> {
    const rows: Array<{ id: string; path: string }> = await this.db.query(
      `WITH RECURSIVE up AS (
         SELECT id AS start_id, parent_id, name, 0 AS depth FROM storage_entries
          WHERE id = ANY($1::uuid[]) AND organization_id = $2
         UNION ALL
         SELECT up.start_id, p.parent_id, p.name, up.depth + 1 FROM up JOIN storage_entries p ON p.id = up.parent_id
       )
       SELECT start_id AS id, string_agg(name, '/' ORDER BY depth DESC) AS path FROM up GROUP BY start_id`,
      [ids.filter(isUuid), organizationId],
    );
    return new Map(rows.map((r) => [r.id, r.path === '' ? '/' : r.path]));
  }

  /** One page of a folder's children: folders first, then by name (bytewise); keyset cursors. */
  async listChildren(
    organizationId: string,
    folderId: string,
    options: { first: number; after?: string | null; kind?: 'file' | 'folder' | null },
  ): Promise<ChildrenPage> {
    const after = decodeCursor(CHILDREN_CURSOR, options.after, 2);
    if (after && (typeof after[0] !== 'boolean' || typeof after[1] !== 'string')) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor of this list', { argument: 'after' });
    }
    const filters = [`parent_id = $1`, `organization_id = $2`];
    const params: unknown[] = [folderId, organizationId];
    if (options.kind) {
      params.push(options.kind);
      filters.push(`kind = $${params.length}`);
    }
    const countParams = [...params];
    const countFilters = [...filters];
    if (after) {
      params.push(after[0], after[1]);
      filters.push(`((kind = 'file'), name COLLATE "C") > ($${params.length - 1}::boolean, $${params.length}::text COLLATE "C")`);
    }
    params.push(options.first + 1);
    const [rows, count] = await Promise.all([
      // One row more than asked tells whether there is a next page (also for first: 0).
      this.db.query(
        `SELECT ${COLUMNS} FROM storage_entries WHERE ${filters.join(' AND ')}
         ORDER BY (kind = 'file'), name COLLATE "C" LIMIT $${params.length}`,
        params,
      ),
      this.db.query(`SELECT count(*)::int AS n FROM storage_entries WHERE ${countFilters.join(' AND ')}`, countParams),
    ]);
    const page: StorageEntry[] = rows.slice(0, options.first);
    return {
      rows: page,
      cursors: page.map((r) => encodeCursor(CHILDREN_CURSOR, [r.kind === 'file', r.name])),
      hasNextPage: rows.length > options.first,
      totalCount: count[0].n,
    };
  }

  // ---------------------------------------------------------------- folders

  async createFolder(organizationId: string, path: string): Promise<StorageEntry> {
    const segments = parsePath(path);
    const rootId = await this.rootId(organizationId);
    return retryOnDeadlock(() =>
      this.db.transaction(async (tx) => {
        const id = await this.makeFolders(tx, rootId, organizationId, segments);
        return (await tx.query(`SELECT ${COLUMNS} FROM storage_entries WHERE id = $1`, [id]))[0];
      }),
    );
  }

  /**
   * `mkdir -p` inside `tx`; the id of the deepest folder. `rootId` comes from the caller, resolved
   * before the transaction: resolving it here takes a second pool connection while `tx` holds one,
   * and a burst of concurrent uploads then holds every connection waiting for another (pool timeout).
   */
  private async makeFolders(tx: EntityManager, rootId: string, organizationId: string, segments: string[]): Promise<string> {
    const [deepest]: Array<{ id: string; kind: string; depth: number }> = await tx.query(
      `${WALK} SELECT id, kind, depth FROM walk ORDER BY depth DESC LIMIT 1`,
      [organizationId, segments],
    );
    let parentId = deepest?.id ?? rootId;
    const depth = deepest?.depth ?? 0;
    if (deepest && deepest.kind === 'file') throw nameConflict(joinPath(segments.slice(0, depth)));
    for (let i = depth; i < segments.length; i++) {
      const inserted = await tx.query(
        `INSERT INTO storage_entries (organization_id, parent_id, kind, name) VALUES ($1, $2, 'folder', $3)
         ON CONFLICT (parent_id, name) DO NOTHING RETURNING id`,
        [organizationId, parentId, segments[i]],
      );
      if (inserted[0]) {
        parentId = inserted[0].id;
        continue;
      }
      // Someone created it meanwhile (INSERT waited for their commit), or it is a file.
      const [existing] = await tx.query(`SELECT id, kind FROM storage_entries WHERE parent_id = $1 AND name = $2`, [parentId, segments[i]]);
      if (!existing || existing.kind !== 'folder') throw nameConflict(joinPath(segments.slice(0, i + 1)));
      parentId = existing.id;
    }
    return parentId;
  }

  // ---------------------------------------------------------------- rename, move, delete

  async renameEntry(organizationId: string, path: string, newName: string): Promise<StorageEntry> {
    const name = normalizeName(newName);
    const entry = await this.findByPath(organizationId, path);
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw new AppError(ErrorCode.INVALID_PATH, 'The root folder "/" cannot be renamed');
    const parentPath = parentOf(parsePath(path));
    const target = joinPath([...parentPath, name]);
    checkPathLength(target);
    if (name === entry.name) return entry;
    try {
      const [rows] = await this.db.query(
        `UPDATE storage_entries SET name = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 RETURNING ${COLUMNS}`,
        [entry.id, organizationId, name],
      );
      if (!rows[0]) throw notFound(path);
      return rows[0];
    } catch (error) {
      if (pgCode(error) === PG_UNIQUE_VIOLATION) throw nameConflict(target);
      throw error;
    }
  }

  async moveEntry(organizationId: string, path: string, to: string): Promise<StorageEntry> {
    const destinationSegments = parsePath(to);
    const entry = await this.findByPath(organizationId, path);
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw new AppError(ErrorCode.INVALID_PATH, 'The root folder "/" cannot be moved');
    const destination = await this.findByPath(organizationId, to);
    if (!destination) throw new AppError(ErrorCode.NOT_FOUND, `Destination folder ${JSON.stringify(to)} does not exist`);
    if (destination.kind !== 'folder') throw new AppError(ErrorCode.INVALID_MOVE, `Destination ${JSON.stringify(to)} is a file, not a folder`);
    checkPathLength(joinPath([...destinationSegments, entry.name]));
    if (destination.id === entry.parentId) return entry;
    return this.db.transaction(async (tx) => {
      // Two concurrent folder moves could otherwise each pass the cycle check and build a loop.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`storage-move:${organizationId}`]);
      if (entry.kind === 'folder') {
        const cycle = await tx.query(
          `WITH RECURSIVE up AS (
             SELECT id, parent_id FROM storage_entries WHERE id = $1
             UNION ALL
             SELECT p.id, p.parent_id FROM storage_entries p JOIN up ON p.id = up.parent_id
           ) SELECT 1 FROM up WHERE id = $2 LIMIT 1`,
          [destination.id, entry.id],
        );
        if (cycle.length) throw new AppError(ErrorCode.INVALID_MOVE, `Cannot move ${JSON.stringify(path)} into itself or one of its descendants`);
      }
      try {
        const [rows] = await tx.query(
          `UPDATE storage_entries SET parent_id = $3, updated_at = now() WHERE id = $1 AND organization_id = $2 RETURNING ${COLUMNS}`,
          [entry.id, organizationId, destination.id],
        );
        if (!rows[0]) throw notFound(path);
        return rows[0];
      } catch (error) {
        if (pgCode(error) === PG_UNIQUE_VIOLATION) throw nameConflict(joinPath([...destinationSegments, entry.name]));
        if (pgCode(error) === PG_FOREIGN_KEY_VIOLATION) throw new AppError(ErrorCode.NOT_FOUND, `Destination folder ${JSON.stringify(to)} does not exist`);
        throw error;
      }
    });
  }

  /** Deletes an entry and everything below it in one transaction; objects go to deletion jobs. */
  async deleteEntry(organizationId: string, path: string): Promise<{ deletedFiles: number; deletedFolders: number }> {
    const entry = await this.findByPath(organizationId, path);
    if (!entry) throw notFound(path);
    if (entry.parentId === null) throw new AppError(ErrorCode.INVALID_PATH, 'The root folder "/" cannot be deleted');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (tx) => {
          // UPDATE/DELETE answer [rows, rowCount] through TypeORM.
          const [deleted]: [Array<{ kind: string; objectKey: string | null }>] = await tx.query(
            `WITH RECURSIVE below AS (
               SELECT id FROM storage_entries WHERE id = $1 AND organization_id = $2
               UNION ALL
               SELECT e.id FROM storage_entries e JOIN below b ON e.parent_id = b.id
             )
             DELETE FROM storage_entries WHERE id IN (SELECT id FROM below) RETURNING kind, object_key AS "objectKey"`,
            [entry.id, organizationId],
          );
          if (deleted.length === 0) throw notFound(path);
          const keys = deleted.filter((d) => d.kind === 'file').map((d) => d.objectKey!);
          await enqueueObjectDeletion(this.queue, tx, keys, this.deletionDelaySeconds);
          return { deletedFiles: keys.length, deletedFolders: deleted.length - keys.length };
        });
      } catch (error) {
        // An entry was added below the folder while we deleted it; take the new state again.
        if (pgCode(error) === PG_FOREIGN_KEY_VIOLATION && attempt < 3) continue;
        throw error;
      }
    }
  }

  // ---------------------------------------------------------------- files

  /**
   * Streams the upload into a new object (recorded as pending first, so a crash leaves an orphan
   * the sweeper can find), then swaps it in with one transaction: a new file row, or the same
   * row with the new object and etag, the old object handed to a deletion job.
   */
  async uploadFile(organizationId: string, input: UploadInput): Promise<StorageEntry> {
    const folder = parsePath(input.folder);
    const name = normalizeName(input.name);
    const path = joinPath([...folder, name]);
    checkPathLength(path);
    const contentType = chooseContentType(input.contentType, name);

    const rootId = await this.rootId(organizationId);
    const objectId = randomUUID();
    const objectKey = `${organizationId}/${objectId}`;
    await this.db.query(`INSERT INTO storage_pending_objects (object_key) VALUES ($1)`, [objectKey]);
    let committed = false;
    try {
      const limit = new UploadLimit(this.maxUploadBytes, input.source);
      const written = await this.driver.write(objectKey, limit, { contentType });
      const etag = objectId.replace(/-/g, '');
      const row = await retryOnDeadlock(() => this.db.transaction(async (tx) => {
        const [claimed] = await tx.query(`DELETE FROM storage_pending_objects WHERE object_key = $1 RETURNING object_key`, [objectKey]);
        // The sweeper took it (the upload outlived the sweep threshold): the object is gone.
        if (claimed.length === 0) throw new Error(`upload of ${path} expired before it was committed`);
        const parentId = await this.makeFolders(tx, rootId, organizationId, folder);
        for (;;) {
          const [inserted] = await tx.query(
            `INSERT INTO storage_entries (organization_id, parent_id, kind, name, object_key, size, content_type, md5, etag)
             VALUES ($1, $2, 'file', $3, $4, $5, $6, $7, $8)
             ON CONFLICT (parent_id, name) DO NOTHING RETURNING ${COLUMNS}`,
            [organizationId, parentId, name, objectKey, written.size, contentType, written.md5, etag],
          );
          if (inserted) return inserted as StorageEntry;
          const [existing] = await tx.query(
            `SELECT id, kind, object_key AS "objectKey" FROM storage_entries WHERE parent_id = $1 AND name = $2 FOR UPDATE`,
            [parentId, name],
          );
          if (!existing) continue; // deleted between our two statements: insert again
          if (existing.kind !== 'file') throw new AppError(ErrorCode.NAME_CONFLICT, `${JSON.stringify(path)} is a folder`);
          const [rows] = await tx.query(
            `UPDATE storage_entries SET object_key = $2, size = $3, content_type = $4, md5 = $5, etag = $6, updated_at = now()
             WHERE id = $1 RETURNING ${COLUMNS}`,
            [existing.id, objectKey, written.size, contentType, written.md5, etag],
          );
          await enqueueObjectDeletion(this.queue, tx, [existing.objectKey], this.deletionDelaySeconds);
          return rows[0] as StorageEntry;
        }
      }));
      committed = true;
      metrics.uploads.inc({ outcome: 'stored' });
      metrics.uploadBytes.inc(written.size);
      return row;
    } catch (error) {
      const tooLarge = error instanceof AppError && error.extensions.code === ErrorCode.FILE_TOO_LARGE;
      metrics.uploads.inc({ outcome: tooLarge ? 'too_large' : 'failed' });
      if (pgCode(error) === PG_FOREIGN_KEY_VIOLATION) {
        throw new AppError(ErrorCode.NOT_FOUND, `Folder ${JSON.stringify(input.folder)} was deleted during the upload`);
      }
      throw error;
    } finally {
      if (!committed) await this.discardPending(objectKey);
    }
  }

  /** Best effort; whatever fails here stays pending and the sweeper retries it. */
  private async discardPending(objectKey: string): Promise<void> {
    try {
      await this.driver.delete(objectKey);
      await this.db.query(`DELETE FROM storage_pending_objects WHERE object_key = $1`, [objectKey]);
    } catch {
      // left for sweepOrphans
    }
  }

  async openContent(file: StorageEntry, range?: ByteRange): Promise<Readable> {
    return this.driver.read(file.objectKey!, range);
  }

  async downloadUrl(file: StorageEntry, baseUrl: string, expiresIn: number | null | undefined): Promise<string> {
    const seconds = expiresIn ?? DEFAULT_URL_EXPIRY_SECONDS;
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_URL_EXPIRY_SECONDS) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, `expiresIn must be between 1 and ${MAX_URL_EXPIRY_SECONDS} seconds`, { argument: 'expiresIn' });
    }
    const expiresAt = new Date(Date.now() + seconds * 1000);
    const signed = await this.driver.signedUrl(file.objectKey!, { expiresAt, fileName: file.name, contentType: file.contentType! });
    if (signed) return signed;
    const { expires, signature } = await this.signer.sign(file.id, expiresAt);
    return `${baseUrl}/files/${file.id}/content?expires=${expires}&signature=${signature}`;
  }

  verifyContentSignature(fileId: string, expires: string, signature: string): Promise<boolean> {
    return this.signer.verify(fileId, expires, signature);
  }

  // ---------------------------------------------------------------- cleanup

  /** Deletion job handler: objects whose rows are gone (missing objects are fine). */
  async deleteObjects(keys: string[]): Promise<void> {
    for (const key of keys) await this.driver.delete(key);
  }

  /** See `sweepOrphans` in events/orphan-sweeper.ts; callable from tests with any age. */
  sweepOrphans(olderThanMs: number): Promise<number> {
    return sweepOrphans(this.db, this.driver, olderThanMs);
  }
}

function parentOf(segments: string[]): string[] {
  return segments.slice(0, -1);
}
