import { Field, ID, Int, InterfaceType, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../graphql/node';
import { PageInfo } from '../graphql/relay';
import type { StorageEntry } from './storage-entry.entity';

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

@ObjectType({ simpleResolvers: true })
export class EntryEdge {
  @Field()
  cursor: string;

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

/** The GraphQL object of a row. */
export function toEntry(row: StorageEntry): Folder | File {
  const common = {
    id: row.id,
    organizationId: row.organizationId,
    parentId: row.parentId,
    name: row.parentId === null ? '/' : row.name,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
  if (row.kind === 'folder') return Object.assign(new Folder(), common);
  return Object.assign(new File(), common, {
    size: Number(row.size),
    contentType: row.contentType!,
    md5: row.md5!,
    etag: row.etag!,
    objectKey: row.objectKey!,
  });
}
