import { Field, ID, Int, InterfaceType, ObjectType, registerEnumType } from 'type-graphql';
import { AppError, ErrorCode } from '../graphql/errors';
import { Node } from '../graphql/node';
import { decodeCursor, encodeCursor, PageInfo } from '../graphql/relay';
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

/** The listing position a cursor of `children` stands for. */
export function listingKeyOf(after: string | null | undefined): ListingKey | null {
  const key = decodeCursor(CHILDREN_CURSOR, after, 2);
  if (!key) return null;
  if (typeof key[0] !== 'boolean' || typeof key[1] !== 'string') {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor of this list', { argument: 'after' });
  }
  return { isFile: key[0], name: key[1] };
}

@ObjectType({ simpleResolvers: true })
export class EntryEdge {
  constructor(node: Folder | File) {
    this.node = node;
  }

  /** Encoded only when asked for. */
  @Field()
  get cursor(): string {
    return encodeCursor(CHILDREN_CURSOR, [this.node instanceof File, this.node.name]);
  }

  @Field(() => Entry)
  node: Entry;
}

@ObjectType({ simpleResolvers: true })
export class EntryConnection {
  @Field(() => [EntryEdge])
  edges: EntryEdge[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;

  @Field(() => Int)
  totalCount: number;
}

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
