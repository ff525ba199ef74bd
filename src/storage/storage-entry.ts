import { Columns, epochMs, float8 } from '../db/columns';

/**
 * A folder or a file of an organization's tree: a row of `storage_entries` (see the Storage
 * migration) as EntryStore's statements select it. Not a TypeORM entity: nothing reads the tree
 * through TypeORM.
 */
export interface StorageEntry {
  id: string;
  organizationId: string;
  /** Null only for the organization's root folder. */
  parentId: string | null;
  kind: 'folder' | 'file';
  /** '' for the root. */
  name: string;
  /** Immutable `<orgId>/<objectId>`; never encodes the path. */
  objectKey: string | null;
  size: number | null;
  contentType: string | null;
  md5: string | null;
  etag: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A trash item: the top entry of what was deleted at once, with where it was. */
export interface TrashedEntry extends StorageEntry {
  trashedAt: Date;
  trashedPath: string;
}

/**
 * The one list of the columns of `storage_entries` that are read, each as the field it is read
 * into (a stored field of `File` is one line here, beside its migration); the trash's two only by
 * what lists and restores trash items. Times as epoch milliseconds (made Dates by EntryStore's
 * `entry`); TextStore reads a part of it too.
 */
export const ENTRY_COLUMNS: Columns<TrashedEntry> = {
  id: 'id',
  organizationId: 'organization_id',
  parentId: 'parent_id',
  kind: 'kind',
  name: 'name',
  objectKey: 'object_key',
  size: float8('size'),
  contentType: 'content_type',
  md5: 'md5',
  etag: 'etag',
  createdAt: epochMs('created_at'),
  updatedAt: epochMs('updated_at'),
  trashedPath: 'trashed_path',
  trashedAt: epochMs('trashed_at'),
};
