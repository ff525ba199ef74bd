import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gateways cache folder paths (src/storage/folder-cache.ts). A cached path stops being true when
 * a folder on it is renamed, moved or deleted; these triggers tell every gateway right after the
 * commit, on channel `alloy_storage_tree` with the organization's id as payload ('*' after a
 * TRUNCATE). Folder rows change only by rename and move, so any UPDATE or DELETE of one counts.
 * Identical payloads of one transaction arrive once, so deleting a tree of a hundred folders is
 * one notification. Triggers rather than application code, so that a change by hand counts too.
 */
export class StorageTreeNotify1765000000000 implements MigrationInterface {
  name = 'StorageTreeNotify1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION alloy_notify_storage_tree_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'TRUNCATE' THEN
          PERFORM pg_notify('alloy_storage_tree', '*');
        ELSE
          PERFORM pg_notify('alloy_storage_tree', OLD.organization_id::text);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER storage_entries_notify_folder_change
        AFTER UPDATE OR DELETE ON storage_entries FOR EACH ROW WHEN (OLD.kind = 'folder')
        EXECUTE FUNCTION alloy_notify_storage_tree_change()`);
    await q.query(`
      CREATE TRIGGER storage_entries_notify_truncate
        AFTER TRUNCATE ON storage_entries FOR EACH STATEMENT
        EXECUTE FUNCTION alloy_notify_storage_tree_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER storage_entries_notify_truncate ON storage_entries`);
    await q.query(`DROP TRIGGER storage_entries_notify_folder_change ON storage_entries`);
    await q.query(`DROP FUNCTION alloy_notify_storage_tree_change()`);
  }
}
