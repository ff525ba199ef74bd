// SQL shared by the storage service's queries on `storage_entries`.

/** The columns of a row, named as StorageEntry's fields. */
export const COLUMNS = `id, organization_id AS "organizationId", parent_id AS "parentId", kind, name,
  object_key AS "objectKey", size::float8 AS size, content_type AS "contentType", md5, etag,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Walks `$2` (text[] of names) down from the root of org `$1`; one row per level reached, with its depth. */
export const WALK = `
  WITH RECURSIVE walk AS (
    SELECT id, kind, 0 AS depth FROM storage_entries WHERE organization_id = $1 AND parent_id IS NULL
    UNION ALL
    SELECT e.id, e.kind, w.depth + 1 FROM walk w
      JOIN storage_entries e ON e.parent_id = w.id AND e.name = ($2::text[])[w.depth + 1]
    WHERE w.depth < cardinality($2::text[])
  )`;

export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
const PG_DEADLOCK = '40P01';

export const pgCode = (error: unknown) => (error as { code?: string } | null)?.code;

/** Concurrent `mkdir -p` of overlapping paths can deadlock; the loser simply runs again. */
export async function retryOnDeadlock<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (pgCode(error) !== PG_DEADLOCK || attempt >= attempts) throw error;
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are uuids; anything else cannot name an entry (and must not reach a ::uuid cast). */
export const isUuid = (value: string) => UUID.test(value);
