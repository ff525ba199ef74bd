import { isUuid } from '../db/ids';
import type { Readable } from 'node:stream';
import { IsInt, Max, Min } from 'class-validator';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { FileUpload, GraphQLUpload } from 'graphql-upload-minimal';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader, requirePrincipal } from '../graphql/context';
import type { Storage } from './storage';
import type { NodeFetcher } from '../graphql/node';
import { PageConnection, paginate } from '../graphql/connection';
import { PageArgs } from '../graphql/page-args';
import { joinPath, parsePath } from './names';
import { DEFAULT_URL_EXPIRY_SECONDS, MAX_URL_EXPIRY_SECONDS } from './downloads';
import { ClientUpload, DeleteEntryPayload, Entry, entryCursors, EntryConnection, EntryKind, File, Folder, toEntry } from './storage.types';

/** The service the storage resolvers use. */
type StorageContext = GatewayContext<{ storage: Storage }>;

/** Per-request loader, so that the `parent` of a page of 100 entries (or `node` ids) is one statement. */
function entriesById(ctx: StorageContext, organizationId: string) {
  return loader(
    ctx,
    'storage.entriesById',
    () =>
      new DataLoader<string, Folder | File | null>(async (ids) => {
        const rows = await ctx.services.storage.reads.findByIds(organizationId, ids);
        const byId = new Map(rows.map((r) => [r.id, toEntry(r, r.path)]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
  );
}

/** `node(id)` for entries (listed by the composition root). */
export const fetchStorageNode: NodeFetcher = async (ctx, organizationId, id) =>
  isUuid(id) ? entriesById(ctx as StorageContext, organizationId).load(id) : null;

@ArgsType()
class ChildrenArgs extends PageArgs {
  @Field(() => EntryKind, { nullable: true, description: 'Only folders or only files.' })
  kind?: EntryKind | null;
}

const EXPIRES_IN_RANGE = { message: `expiresIn must be between 1 and ${MAX_URL_EXPIRY_SECONDS} seconds` };

@ArgsType()
class DownloadUrlArgs {
  @Field(() => Int, {
    nullable: true,
    description: `Seconds, 1 to ${MAX_URL_EXPIRY_SECONDS}; default ${DEFAULT_URL_EXPIRY_SECONDS}.`,
  })
  @IsInt(EXPIRES_IN_RANGE)
  @Min(1, EXPIRES_IN_RANGE)
  @Max(MAX_URL_EXPIRY_SECONDS, EXPIRES_IN_RANGE)
  expiresIn?: number | null;
}

@Resolver(() => Entry)
export class EntryFieldsResolver {
  @FieldResolver(() => Folder, { nullable: true })
  async parent(@Root() entry: Entry, @Ctx() ctx: StorageContext): Promise<Folder | null> {
    if (entry.parentId === null) return null;
    return (await entriesById(ctx, entry.organizationId).load(entry.parentId)) as Folder | null;
  }
}

@Resolver(() => Folder)
export class FolderResolver {
  @FieldResolver(() => EntryConnection, { description: 'Folders first, then files, each by name.' })
  children(
    @Root() folder: Folder,
    @Args(() => ChildrenArgs) args: ChildrenArgs,
    @Ctx() ctx: StorageContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<Folder | File>> {
    return paginate(args, info, entryCursors, async (query) => {
      const page = await ctx.services.storage.reads.listChildren(folder, { ...query, kind: args.kind ?? null });
      // The children's `parent` is this folder: no statement for it.
      entriesById(ctx, folder.organizationId).prime(folder.id, folder);
      const prefix = folder.path === '/' ? '' : folder.path;
      return { ...page, rows: page.rows.map((row) => toEntry(row, `${prefix}/${row.name}`)) };
    });
  }
}

@Resolver(() => File)
export class FileResolver {
  @FieldResolver(() => String, { description: 'A URL that serves the bytes without an API key until it expires.' })
  async downloadUrl(
    @Root() file: File,
    @Args(() => DownloadUrlArgs) { expiresIn }: DownloadUrlArgs,
    @Ctx() ctx: StorageContext,
  ): Promise<string> {
    return ctx.services.storage.downloads.downloadUrl(file, ctx.baseUrl, expiresIn);
  }
}

@Resolver()
export class StorageResolver {
  @Query(() => Folder, { nullable: true, description: 'The folder at an absolute path ("/" is the root); null when none is there.' })
  async folder(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<Folder | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.reads.findByPath(organizationId, path);
    return row?.kind === 'folder' ? (toEntry(row, joinPath(parsePath(path))) as Folder) : null;
  }

  @Query(() => File, { nullable: true, description: 'The file at an absolute path; null when none is there.' })
  async file(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<File | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.reads.findByPath(organizationId, path);
    return row?.kind === 'file' ? (toEntry(row, joinPath(parsePath(path))) as File) : null;
  }

  @Mutation(() => File, {
    description: 'Uploads into `folder` (created if missing) under `name` (default: the upload filename); overwrites a file of that name.',
  })
  async uploadFile(
    @Arg('folder') folder: string,
    @Arg('file', () => GraphQLUpload) file: Promise<FileUpload>,
    @Arg('name', () => String, { nullable: true }) name: string | null,
    @Ctx() ctx: StorageContext,
  ): Promise<File> {
    const { organizationId } = requirePrincipal(ctx);
    // Both refuse a file the client failed to send as the client's error (the multipart adapter's).
    const upload: ClientUpload = await file;
    const source: Readable = upload.createReadStream();
    try {
      const row = await ctx.services.storage.uploads.uploadFile(organizationId, {
        folder,
        name: name ?? upload.filename ?? '',
        source,
        contentType: upload.mimetype,
      });
      return toEntry(row, joinPath([...parsePath(folder), row.name])) as File;
    } catch (error) {
      // The request body broke while the file streamed in (cut off, malformed): the client's error.
      throw upload.clientError?.(error) ?? error;
    }
  }

  @Mutation(() => Folder, { description: 'Creates the folder and any missing parents; an existing folder is returned as is.' })
  async createFolder(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<Folder> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.createFolder(organizationId, path);
    return toEntry(row, joinPath(parsePath(path))) as Folder;
  }

  @Mutation(() => Entry, { description: 'Renames in place; one row changes whatever the folder holds.' })
  async renameEntry(@Arg('path') path: string, @Arg('name') name: string, @Ctx() ctx: StorageContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.renameEntry(organizationId, path, name);
    return toEntry(row, joinPath([...parsePath(path).slice(0, -1), row.name]));
  }

  @Mutation(() => Entry, { description: 'Moves into the folder `to`; one row changes whatever the folder holds.' })
  async moveEntry(@Arg('path') path: string, @Arg('to') to: string, @Ctx() ctx: StorageContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.changes.moveEntry(organizationId, path, to);
    return toEntry(row, joinPath([...parsePath(to), row.name]));
  }

  @Mutation(() => DeleteEntryPayload, { description: 'Deletes a file, or a folder with everything in it.' })
  async deleteEntry(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<DeleteEntryPayload> {
    const { organizationId } = requirePrincipal(ctx);
    return ctx.services.storage.changes.deleteEntry(organizationId, path);
  }
}

export const storageResolvers = [StorageResolver, EntryFieldsResolver, FolderResolver, FileResolver] as const;
