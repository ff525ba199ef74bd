import { Field, ID, Int, InterfaceType, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../graphql/node';
import { Connection } from '../graphql/connection';
import { createdAtIdPosition, Cursors, decodeCursor, encodeCursor, notACursor } from '../graphql/relay';
import type { FileVersionRow, ListingKey, TrashPosition, VersionPosition } from './entry-store';
import type { StorageEntry } from './storage-entry';

export enum EntryKind {
  FILE = 'file',
  FOLDER = 'folder',
}
registerEnumType(EntryKind, { name: 'EntryKind', description: 'Folder or file.' });

@InterfaceType({ implements: Node, description: 'A folder or file; its id survives rename and move.' })
export abstract class Entry implements Node {
  @Field(() => ID)
  id: string;

  @Field({ description: 'The last path segment ("/" for the root folder).' })
  name: string;

  /** Always known when the entry is made: from the request's own path, its folder's, or read with the row. */
  @Field({ description: 'Absolute path, e.g. /reports/2024/q1.pdf; computed from the tree.' })
  path: string;

  @Field(() => Folder, { nullable: true, description: 'The containing folder; null for the root.' })
  parent: Folder | null;

  @Field()
  createdAt: Date;

  @Field()
  updatedAt: Date;

  /** Not in the schema: the row behind this entry. */
  parentId: string | null;
  organizationId: string;
  /** In the trash, or inside a folder that is: readable (listings, versions), never downloadable. */
  inTrash: boolean;
}

// simpleResolvers: plain properties are read by graphql-js itself, without a resolver (and promise) per field.
@ObjectType({ implements: [Node, Entry], simpleResolvers: true, description: 'A folder of the organization tree.' })
export class Folder extends Entry {}

@ObjectType({ implements: [Node, Entry], simpleResolvers: true, description: 'A stored file.' })
export class File extends Entry {
  @Field(() => Int, { description: 'Size in bytes.' })
  size: number;

  @Field()
  contentType: string;

  @Field({ description: 'Hex MD5 of the bytes.' })
  md5: string;

  @Field({ description: 'Changes whenever the bytes are replaced (also in the ETag header of the content route).' })
  etag: string;

  objectKey: string;
}

const CHILDREN_CURSOR = 'entries';

/** Cursors of `children`: the entry's place in the listing order (folders first, then by name). */
export const entryCursors: Cursors<Folder | File, ListingKey> = {
  encode: (entry) => encodeCursor(CHILDREN_CURSOR, [entry instanceof File, entry.name]),
  decode(after) {
    const key = decodeCursor(CHILDREN_CURSOR, after, 2);
    if (!key) return null;
    if (typeof key[0] !== 'boolean' || typeof key[1] !== 'string') throw notACursor();
    return { isFile: key[0], name: key[1] };
  },
};

@ObjectType({ description: "A page of a folder's entries: folders first, then files, each by name." })
export class EntryConnection extends Connection(Entry, {
  name: 'Entry',
  item: 'entry',
  items: 'entries',
  order: 'folders first, then files, each by name',
  totalCount: 'How many entries the folder holds (all pages; with `kind`, of that kind only).',
}) {}

@ObjectType({ description: 'What a delete moved to the trash or removed for good, the entry itself included.' })
export class DeleteEntryPayload {
  @Field(() => Int)
  deletedFiles: number;

  @Field(() => Int)
  deletedFolders: number;
}

@ObjectType({ simpleResolvers: true, description: 'One content of a file: what it is now, or an earlier one it keeps.' })
export class FileVersion {
  @Field(() => ID, { description: 'Pass it to `restoreFileVersion`; the same as the etag this content has.' })
  id: string;

  @Field(() => Int, { description: 'Size in bytes.' })
  size: number;

  @Field()
  contentType: string;

  @Field({ description: 'Hex MD5 of the bytes.' })
  md5: string;

  @Field({ description: 'The etag the file had (or has) with this content.' })
  etag: string;

  @Field({ description: "When this content became the file's (uploaded, or restored)." })
  createdAt: Date;

  @Field({ description: 'Whether this is what the file is now.' })
  current: boolean;

  /** Not in the schema. */
  file: File;
  objectKey: string;
}

/** Cursors of `versions`: the current content, or a kept version's (createdAt, etag). */
export const versionCursors: Cursors<FileVersion, VersionPosition> = {
  encode: (v) => encodeCursor('versions', [v.current, v.createdAt.getTime(), v.etag]),
  decode(after) {
    const key = decodeCursor('versions', after, 3);
    if (!key) return null;
    if (typeof key[0] !== 'boolean' || typeof key[1] !== 'number' || !Number.isFinite(key[1]) || typeof key[2] !== 'string')
      throw notACursor();
    return { current: key[0], createdAt: key[1], etag: key[2] };
  },
};

@ObjectType({ description: "A page of a file's versions, newest first (what the file is now first of all)." })
export class FileVersionConnection extends Connection(FileVersion, {
  name: 'FileVersion',
  item: 'version',
  items: 'versions',
  order: 'newest first, the current content first',
  totalCount: 'How many versions the file keeps, the current content included.',
}) {}

/** The GraphQL object of a version row of `file`. */
export function toFileVersion(row: FileVersionRow, file: File): FileVersion {
  const version = new FileVersion();
  version.id = row.etag;
  version.etag = row.etag;
  version.size = Number(row.size);
  version.contentType = row.contentType;
  version.md5 = row.md5;
  version.createdAt = row.createdAt;
  version.current = row.current;
  version.objectKey = row.objectKey;
  version.file = file;
  return version;
}

@ObjectType({ simpleResolvers: true, description: 'Something deleted at once: an entry (a folder with its whole tree) in the trash.' })
export class TrashItem {
  @Field(() => ID, { description: "The deleted entry's id: pass it to `restoreEntry`." })
  id: string;

  @Field(() => Entry, {
    description: 'The deleted entry as it was (its `path` is `originalPath`); a folder lists what it held. Nothing in it is downloadable.',
  })
  entry: Entry;

  @Field({ description: 'Where it was when it was deleted; `restoreEntry` puts it back there.' })
  originalPath: string;

  @Field()
  deletedAt: Date;

  @Field(() => Date, { nullable: true, description: 'When it is removed for good by itself; null when TRASH_RETENTION_DAYS is 0.' })
  expiresAt: Date | null;
}

/** Cursors of `trash`: (deletedAt, id) of an item. */
export const trashCursors: Cursors<TrashItem, TrashPosition> = {
  encode: (item) => encodeCursor('trash', [item.deletedAt.toISOString(), item.id]),
  decode(after) {
    const position = createdAtIdPosition('trash', after);
    return position && { trashedAt: position.createdAt, id: position.id };
  },
};

@ObjectType({ description: 'A page of the trash, newest first.' })
export class TrashConnection extends Connection(TrashItem, {
  name: 'TrashItem',
  item: 'trash item',
  items: 'trash items',
  order: 'most recently deleted first',
  totalCount: 'How many items the trash holds (all pages).',
}) {}

/** The GraphQL object of a row, at `path`. */
export function toEntry(row: StorageEntry, path: string, inTrash = false): Folder | File {
  const entry = row.kind === 'folder' ? new Folder() : new File();
  entry.inTrash = inTrash;
  entry.id = row.id;
  entry.organizationId = row.organizationId;
  entry.parentId = row.parentId;
  entry.name = row.parentId === null ? '/' : row.name;
  entry.path = path;
  entry.createdAt = row.createdAt;
  entry.updatedAt = row.updatedAt;
  if (entry instanceof File) {
    entry.size = Number(row.size);
    entry.contentType = row.contentType!;
    entry.md5 = row.md5!;
    entry.etag = row.etag!;
    entry.objectKey = row.objectKey!;
  }
  return entry;
}
