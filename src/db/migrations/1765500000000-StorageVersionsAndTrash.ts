import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * File versions and a trash (see src/storage/trash.ts and src/storage/versions.ts).
 *
 * Trash: the top entry of a deleted tree gets `trashed_at` and `trashed_path` (where it was);
 * nothing below it changes, so trashing a folder of 10,000 files is one row. Every live lookup
 * excludes trashed rows, and the indexes that live lookups use are partial on `trashed_at IS NULL`,
 * so a trash of any size beside the live tree costs listings and path walks nothing. The name
 * index being partial frees the name. `storage_entry_is_live` is the one definition of "live"
 * (neither the entry nor a folder above it is in the trash), for statements that reach an entry
 * by id rather than by walking down from the root.
 *
 * Versions: an overwrite keeps the previous content (its object key, no copy) as a row of
 * `storage_file_versions`; the current content stays on the entry row. `content_at` is when the
 * current content became current (updated_at also moves on rename and move). The times these
 * lists are paged by keep milliseconds only, so keyset cursors round-trip through JavaScript dates.
 */
export class StorageVersionsAndTrash1765500000000 implements MigrationInterface {
  name = 'StorageVersionsAndTrash1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE storage_entries ADD COLUMN trashed_at timestamptz(3), ADD COLUMN trashed_path text`);
    await q.query(
      `ALTER TABLE storage_entries ADD CONSTRAINT storage_entries_trash_shape CHECK ((trashed_at IS NULL) = (trashed_path IS NULL))`,
    );
    await q.query(`ALTER TABLE storage_entries ADD COLUMN content_at timestamptz(3) NOT NULL DEFAULT now()`);
    await q.query(`UPDATE storage_entries SET content_at = updated_at WHERE kind = 'file'`);

    // The parent pointer's own index: foreign key checks and walks down a tree (trashed rows
    // included). With trashed_at second, a scan of a folder's live rows (`parent_id = $1 AND
    // trashed_at IS NULL`) never reads its trashed ones, whichever index the planner takes.
    await q.query(`CREATE INDEX storage_entries_parent ON storage_entries (parent_id, trashed_at)`);
    await q.query(`DROP INDEX storage_entries_name`);
    await q.query(`CREATE UNIQUE INDEX storage_entries_name ON storage_entries (parent_id, name) WHERE trashed_at IS NULL`);
    await q.query(`DROP INDEX storage_entries_listing`);
    await q.query(
      `CREATE INDEX storage_entries_listing ON storage_entries (parent_id, (kind = 'file'), (name COLLATE "C")) WHERE trashed_at IS NULL`,
    );
    // The trash, newest first per organization, and its expiry.
    await q.query(
      `CREATE INDEX storage_entries_trash ON storage_entries (organization_id, trashed_at DESC, id DESC) WHERE trashed_at IS NOT NULL`,
    );
    await q.query(`CREATE INDEX storage_entries_trash_expiry ON storage_entries (trashed_at) WHERE trashed_at IS NOT NULL`);

    await q.query(`
      CREATE FUNCTION storage_entry_is_live(entry uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
        WITH RECURSIVE up AS (
          SELECT parent_id, trashed_at FROM storage_entries WHERE id = entry
          UNION ALL
          SELECT p.parent_id, p.trashed_at FROM up JOIN storage_entries p ON p.id = up.parent_id
        )
        SELECT bool_and(trashed_at IS NULL) FROM up
      $$`);

    // No cascade from the file: whoever deletes a file deletes its versions first, with their
    // objects handed to the deletion jobs (a forgotten path fails loudly instead of orphaning).
    await q.query(`
      CREATE TABLE storage_file_versions (
        file_id uuid NOT NULL REFERENCES storage_entries(id),
        etag text NOT NULL,
        object_key text NOT NULL,
        size bigint NOT NULL,
        content_type text NOT NULL,
        md5 text NOT NULL,
        created_at timestamptz(3) NOT NULL,
        PRIMARY KEY (file_id, etag)
      )`);
    await q.query(`CREATE INDEX storage_file_versions_order ON storage_file_versions (file_id, created_at DESC, etag DESC)`);
    await q.query(`CREATE INDEX storage_file_versions_created_at ON storage_file_versions (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE storage_file_versions`);
    await q.query(`DROP FUNCTION storage_entry_is_live(uuid)`);
    await q.query(`DROP INDEX storage_entries_trash_expiry`);
    await q.query(`DROP INDEX storage_entries_trash`);
    await q.query(`DROP INDEX storage_entries_listing`);
    await q.query(`CREATE INDEX storage_entries_listing ON storage_entries (parent_id, (kind = 'file'), (name COLLATE "C"))`);
    await q.query(`DROP INDEX storage_entries_name`);
    await q.query(`CREATE UNIQUE INDEX storage_entries_name ON storage_entries (parent_id, name)`);
    await q.query(`DROP INDEX storage_entries_parent`);
    await q.query(`ALTER TABLE storage_entries DROP CONSTRAINT storage_entries_trash_shape`);
    await q.query(`ALTER TABLE storage_entries DROP COLUMN content_at, DROP COLUMN trashed_path, DROP COLUMN trashed_at`);
  }
}
