import { MigrationInterface, QueryRunner } from 'typeorm';

export class Storage1764400000000 implements MigrationInterface {
  name = 'Storage1764400000000';

  async up(q: QueryRunner): Promise<void> {
    // One row per folder or file; the tree is parent pointers, so a rename or move is one row.
    await q.query(`
      CREATE TABLE storage_entries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        parent_id uuid REFERENCES storage_entries(id),
        kind text NOT NULL CHECK (kind IN ('folder', 'file')),
        name text NOT NULL,
        object_key text,
        size bigint,
        content_type text,
        md5 text,
        etag text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT storage_entries_root_shape CHECK ((parent_id IS NULL) = (name = '') AND (parent_id IS NOT NULL OR kind = 'folder')),
        CONSTRAINT storage_entries_file_shape CHECK ((kind = 'file') = (object_key IS NOT NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX storage_entries_root ON storage_entries (organization_id) WHERE parent_id IS NULL`);
    // A file and a folder cannot share a name in one folder.
    await q.query(`CREATE UNIQUE INDEX storage_entries_name ON storage_entries (parent_id, name)`);
    // Listing order: folders first, then by name (bytewise, so cursors compare the same everywhere).
    await q.query(`CREATE INDEX storage_entries_listing ON storage_entries (parent_id, (kind = 'file'), (name COLLATE "C"))`);
    await q.query(`CREATE INDEX storage_entries_organization ON storage_entries (organization_id)`);
    // Objects being written and not yet committed to a row; the sweeper reclaims old ones.
    await q.query(`
      CREATE TABLE storage_pending_objects (
        object_key text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX storage_pending_objects_created_at ON storage_pending_objects (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE storage_pending_objects`);
    await q.query(`DROP TABLE storage_entries`);
  }
}
