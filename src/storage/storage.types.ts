import { Field, ID, Int, InterfaceType, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../graphql/node';
import { Connection } from '../graphql/connection';
import { Cursors, decodeCursor, encodeCursor, notACursor } from '../graphql/relay';
import type { FileUpload } from 'graphql-upload-minimal';
import type { AppError } from '../graphql/errors';
import type { ListingKey } from './entry-store';
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

@ObjectType()
export class DeleteEntryPayload {
  @Field(() => Int)
  deletedFiles: number;

  @Field(() => Int)
  deletedFolders: number;
}

/** The GraphQL object of a row, at `path`. */
export function toEntry(row: StorageEntry, path: string): Folder | File {
  const entry = row.kind === 'folder' ? new Folder() : new File();
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

/**
 * An uploaded file as the GraphQL Upload scalar resolves it, from the transport's multipart adapter
 * (src/http/multipart-input.ts): `clientError` tells whether an error of its stream was the
 * client's (a body cut off or malformed while the file streamed in), and how to say so.
 */
export interface ClientUpload extends FileUpload {
  clientError?(error: unknown): AppError | undefined;
}
