import type { Readable } from 'node:stream';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { FileUpload, GraphQLUpload } from 'graphql-upload-minimal';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader, requirePrincipal } from '../graphql/context';
import { AppError, ErrorCode } from '../graphql/errors';
import { registerNodeFetcher } from '../graphql/node';
import { decodeCursor, encodeCursor, pageSize } from '../graphql/relay';
import { selectsField } from '../graphql/selection';
import type { ListingKey } from './entry-store';
import { isUuid, joinPath, parsePath } from './names';
import { DeleteEntryPayload, Entry, EntryConnection, EntryKind, File, Folder, toEntry } from './storage.types';

const CHILDREN_CURSOR = 'entries';

/** Per-request loaders, so a page of 100 entries costs one query per field kind, not 100. */
function entriesById(ctx: GatewayContext, organizationId: string) {
  return loader(ctx, 'storage.entriesById', () =>
    new DataLoader<string, Folder | File | null>(async (ids) => {
      const rows = await ctx.services.storage.reads.findByIds(organizationId, ids);
      const byId = new Map(rows.map((r) => [r.id, toEntry(r)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  );
}

function pathsById(ctx: GatewayContext, organizationId: string) {
  return loader(ctx, 'storage.pathsById', () =>
    new DataLoader<string, string | null>(async (ids) => {
      const paths = await ctx.services.storage.reads.pathsOf(organizationId, ids);
      return ids.map((id) => paths.get(id) ?? null);
    }),
  );
}

registerNodeFetcher(async (ctx, organizationId, id) => (isUuid(id) ? entriesById(ctx, organizationId).load(id) : null));

/** The entry with its absolute path, which the request that produced it knows. */
function at<T extends Entry>(entry: T, path: string): T {
  entry.path = path;
  return entry;
}

/** The sort key of a listing cursor. */
function listingKeyOf(after: string | null | undefined): ListingKey | null {
  const key = decodeCursor(CHILDREN_CURSOR, after, 2);
  if (!key) return null;
  if (typeof key[0] !== 'boolean' || typeof key[1] !== 'string') {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor of this list', { argument: 'after' });
  }
  return { isFile: key[0], name: key[1] };
}

const cursorOf = (entry: Entry) => encodeCursor(CHILDREN_CURSOR, [entry instanceof File, entry.name]);

@ArgsType()
class ChildrenArgs {
  @Field(() => Int, { nullable: true, description: 'At most 100; default 20.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => EntryKind, { nullable: true, description: 'Only folders or only files.' })
  kind?: EntryKind | null;
}

@Resolver(() => Entry)
export class EntryFieldsResolver {
  /** Known without a query for entries reached by path (listings, `folder`, `file`, mutations). */
  @FieldResolver(() => String)
  path(@Root() entry: Entry, @Ctx() ctx: GatewayContext): string | Promise<string> {
    if (entry.path !== undefined) return entry.path;
    // Deleted while this request ran: the path it had is unknowable; report it as gone.
    return pathsById(ctx, entry.organizationId)
      .load(entry.id)
      .then((path) => path ?? '');
  }

  @FieldResolver(() => Folder, { nullable: true })
  async parent(@Root() entry: Entry, @Ctx() ctx: GatewayContext): Promise<Folder | null> {
    if (entry.parentId === null) return null;
    return (await entriesById(ctx, entry.organizationId).load(entry.parentId)) as Folder | null;
  }
}

@Resolver(() => Folder)
export class FolderResolver {
  @FieldResolver(() => EntryConnection, { description: 'Folders first, then files, each by name.' })
  async children(
    @Root() folder: Folder,
    @Args() args: ChildrenArgs,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<EntryConnection> {
    const first = pageSize(args.first);
    const page = await ctx.services.storage.reads.listChildren(folder.id, {
      first,
      after: listingKeyOf(args.after),
      kind: args.kind ?? null,
      count: selectsField(info, 'totalCount'),
    });
    // The children's `parent` is this folder: no query for it.
    entriesById(ctx, folder.organizationId).prime(folder.id, folder);
    const parentPath = folder.path ?? (await pathsById(ctx, folder.organizationId).load(folder.id));
    const prefix = parentPath === '/' ? '' : parentPath;
    const edges = page.rows.map((row) => {
      const node = toEntry(row);
      if (parentPath) node.path = `${prefix}/${row.name}`;
      return { cursor: cursorOf(node), node };
    });
    return {
      edges,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
      totalCount: page.totalCount ?? 0,
    };
  }
}

@Resolver(() => File)
export class FileResolver {
  @FieldResolver(() => String, { description: 'A URL that serves the bytes without an API key until it expires.' })
  async downloadUrl(
    @Root() file: File,
    @Arg('expiresIn', () => Int, { nullable: true, description: 'Seconds, 1 to 604800; default 3600.' }) expiresIn: number | null,
    @Ctx() ctx: GatewayContext,
  ): Promise<string> {
    return ctx.services.storage.downloads.downloadUrl(file, ctx.baseUrl, expiresIn);
  }
}

@Resolver()
export class StorageResolver {
  @Query(() => Folder, { nullable: true, description: 'The folder at an absolute path ("/" is the root); null when none is there.' })
  async folder(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<Folder | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.reads.findByPath(organizationId, path);
    return row?.kind === 'folder' ? at(toEntry(row) as Folder, joinPath(parsePath(path))) : null;
  }

  @Query(() => File, { nullable: true, description: 'The file at an absolute path; null when none is there.' })
  async file(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<File | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.reads.findByPath(organizationId, path);
    return row?.kind === 'file' ? at(toEntry(row) as File, joinPath(parsePath(path))) : null;
  }

  @Mutation(() => File, {
    description: 'Uploads into `folder` (created if missing) under `name` (default: the upload filename); overwrites a file of that name.',
  })
  async uploadFile(
    @Arg('folder') folder: string,
    @Arg('file', () => GraphQLUpload) file: Promise<FileUpload>,
    @Arg('name', () => String, { nullable: true }) name: string | null,
    @Ctx() ctx: GatewayContext,
  ): Promise<File> {
    const { organizationId } = requirePrincipal(ctx);
    let upload: FileUpload;
    let source: Readable;
    try {
      upload = await file;
      // Throws if the parser already gave up on this file (e.g. the client went away).
      source = upload.createReadStream();
    } catch (error) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, `The upload could not be read: ${(error as Error).message}`, { argument: 'file' });
    }
    const row = await ctx.services.storage.uploads.uploadFile(organizationId, {
      folder,
      name: name ?? upload.filename ?? '',
      source,
      contentType: upload.mimetype,
    });
    return at(toEntry(row) as File, joinPath([...parsePath(folder), row.name]));
  }

  @Mutation(() => Folder, { description: 'Creates the folder and any missing parents; an existing folder is returned as is.' })
  async createFolder(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<Folder> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.createFolder(organizationId, path);
    return at(toEntry(row) as Folder, joinPath(parsePath(path)));
  }

  @Mutation(() => Entry, { description: 'Renames in place; one row changes whatever the folder holds.' })
  async renameEntry(@Arg('path') path: string, @Arg('name') name: string, @Ctx() ctx: GatewayContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.renameEntry(organizationId, path, name);
    return at(toEntry(row), joinPath([...parsePath(path).slice(0, -1), row.name]));
  }

  @Mutation(() => Entry, { description: 'Moves into the folder `to`; one row changes whatever the folder holds.' })
  async moveEntry(@Arg('path') path: string, @Arg('to') to: string, @Ctx() ctx: GatewayContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.moveEntry(organizationId, path, to);
    return at(toEntry(row), joinPath([...parsePath(to), row.name]));
  }

  @Mutation(() => DeleteEntryPayload, { description: 'Deletes a file, or a folder with everything in it.' })
  async deleteEntry(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<DeleteEntryPayload> {
    const { organizationId } = requirePrincipal(ctx);
    return ctx.services.storage.changes.deleteEntry(organizationId, path);
  }
}

export const storageResolvers = [StorageResolver, EntryFieldsResolver, FolderResolver, FileResolver] as const;
