import type { Page, PageQuery } from '../db/page';
import type { StoredFile } from './downloads';
import type { ChildrenQuery, FileVersionRow, TrashPosition, VersionPosition } from './entry-store';
import type { SearchArgs, SearchResultRow } from './search/search';
import type { TextStatus } from './search/text-store';
import type { Storage } from './storage';
import type { StorageEntry, TrashedEntry } from './storage-entry';
import type { DeletedCount } from './trash';
import type { UploadInput } from './uploads';

/**
 * One organization's storage: what the resolvers of a request get as `ctx.org.storage`. It binds
 * the organization once and hands every call to the services of `Storage`, which keep their
 * organization-scoped methods (the CLI and the jobs call those with the organization they act for).
 */
export class OrganizationStorage {
  constructor(
    private readonly storage: Storage,
    readonly organizationId: string,
  ) {}

  findByPath(path: string): Promise<StorageEntry | null> {
    return this.storage.reads.findByPath(this.organizationId, path);
  }

  /** The organization's entry of this id (`GET /files/:id/content` with a key). */
  findById(id: string): Promise<StorageEntry | null> {
    return this.storage.reads.findById(this.organizationId, id);
  }

  findByIds(ids: readonly string[]): Promise<Array<StorageEntry & { path: string }>> {
    return this.storage.reads.findByIds(this.organizationId, ids);
  }

  /** A page of the children of one of the organization's folders. */
  listChildren(folderId: string, query: ChildrenQuery): Promise<Page<StorageEntry>> {
    return this.storage.reads.listChildren({ id: folderId, organizationId: this.organizationId }, query);
  }

  uploadFile(input: UploadInput): Promise<StorageEntry> {
    return this.storage.uploads.uploadFile(this.organizationId, input);
  }

  createFolder(path: string): Promise<StorageEntry> {
    return this.storage.changes.createFolder(this.organizationId, path);
  }

  renameEntry(path: string, name: string): Promise<StorageEntry> {
    return this.storage.changes.renameEntry(this.organizationId, path, name);
  }

  moveEntry(path: string, to: string): Promise<StorageEntry> {
    return this.storage.changes.moveEntry(this.organizationId, path, to);
  }

  deleteEntry(path: string, permanent: boolean): Promise<DeletedCount> {
    return this.storage.trash.deleteEntry(this.organizationId, path, permanent);
  }

  listTrash(query: PageQuery<TrashPosition>): Promise<Page<TrashedEntry>> {
    return this.storage.trash.list(this.organizationId, query);
  }

  /** When a trash item goes for good (null: kept until emptied). */
  trashExpiresAt(trashedAt: Date): Date | null {
    return this.storage.trash.expiresAt(trashedAt);
  }

  restoreEntry(id: string, to: string | null): Promise<{ row: StorageEntry; path: string }> {
    return this.storage.trash.restoreEntry(this.organizationId, id, to);
  }

  emptyTrash(): Promise<DeletedCount> {
    return this.storage.trash.emptyTrash(this.organizationId);
  }

  /** A page of the versions of a file read through this scope. */
  listVersions(fileId: string, query: PageQuery<VersionPosition>): Promise<Page<FileVersionRow>> {
    return this.storage.versions.list(fileId, query);
  }

  restoreVersion(path: string, versionId: string): Promise<StorageEntry> {
    return this.storage.versions.restore(this.organizationId, path, versionId);
  }

  /** A signed URL of a file read through this scope. */
  downloadUrl(file: StoredFile, baseUrl: string, expiresIn: number | null | undefined): Promise<string> {
    return this.storage.downloads.downloadUrl(file, baseUrl, expiresIn);
  }

  /** A signed URL of one version's content of a file read through this scope. */
  versionUrl(file: StoredFile, etag: string, baseUrl: string, expiresAt: Date): Promise<string> {
    return this.storage.downloads.versionUrl(file, etag, baseUrl, expiresAt);
  }

  search(args: SearchArgs): Promise<Page<SearchResultRow>> {
    return this.storage.search.search(this.organizationId, args);
  }

  textStatuses(fileIds: readonly string[]): Promise<Map<string, TextStatus>> {
    return this.storage.texts.statuses(this.organizationId, fileIds);
  }
}
