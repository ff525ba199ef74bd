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
