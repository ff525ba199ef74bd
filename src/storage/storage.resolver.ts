import type { Readable } from 'node:stream';
import DataLoader from 'dataloader';
import { FileUpload, GraphQLUpload } from 'graphql-upload-minimal';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader, requirePrincipal } from '../graphql/context';
import { AppError, ErrorCode } from '../graphql/errors';
import { registerNodeFetcher } from '../graphql/node';
import { pageSize } from '../graphql/relay';
import type { StorageEntry } from './storage-entry.entity';
import { isUuid } from './entry-sql';
import { fileTooLarge } from './upload-limit';
import { multipartInputError } from './multipart-input';
import { metrics } from '../observability/metrics';
import { DeleteEntryPayload, Entry, EntryConnection, EntryKind, File, Folder, toEntry } from './storage.types';

/** Per-request loaders, so a page of 100 entries costs one query per field kind, not 100. */
function entriesById(ctx: GatewayContext, organizationId: string) {
  return loader(ctx, 'storage.entriesById', () =>
    new DataLoader<string, StorageEntry | null>(async (ids) => {
      const rows = await ctx.services.storage.findByIds(organizationId, ids);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  );
}

function pathsById(ctx: GatewayContext, organizationId: string) {
  return loader(ctx, 'storage.pathsById', () =>
    new DataLoader<string, string | null>(async (ids) => {
      const paths = await ctx.services.storage.pathsOf(organizationId, ids);
      return ids.map((id) => paths.get(id) ?? null);
    }),
  );
}

registerNodeFetcher(async (ctx, organizationId, id) => {
  if (!isUuid(id)) return null;
  const row = await entriesById(ctx, organizationId).load(id);
  return row ? toEntry(row) : null;
});

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
  @FieldResolver(() => String)
  async path(@Root() entry: Entry, @Ctx() ctx: GatewayContext): Promise<string> {
    if (entry.path !== undefined) return entry.path;
    const path = await pathsById(ctx, entry.organizationId).load(entry.id);
    // Deleted while this request ran: the path it had is unknowable; report it as gone.
    return path ?? '';
  }

  @FieldResolver(() => Folder, { nullable: true })
  async parent(@Root() entry: Entry, @Ctx() ctx: GatewayContext): Promise<Folder | null> {
    if (entry.parentId === null) return null;
    const row = await entriesById(ctx, entry.organizationId).load(entry.parentId);
    return row ? (toEntry(row) as Folder) : null;
  }
}

@Resolver(() => Folder)
export class FolderResolver {
  @FieldResolver(() => EntryConnection, { description: 'Folders first, then files, each by name.' })
  async children(@Root() folder: Folder, @Args() args: ChildrenArgs, @Ctx() ctx: GatewayContext): Promise<EntryConnection> {
    const first = pageSize(args.first);
    const page = await ctx.services.storage.listChildren(folder.organizationId, folder.id, {
      first,
      after: args.after,
      kind: args.kind ?? null,
    });
    const parentPath = folder.path ?? (await pathsById(ctx, folder.organizationId).load(folder.id));
    const edges = page.rows.map((row, i) => {
      const node = toEntry(row);
      if (parentPath) node.path = parentPath === '/' ? `/${row.name}` : `${parentPath}/${row.name}`;
      return { cursor: page.cursors[i], node };
    });
    return {
      edges,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
      totalCount: page.totalCount,
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
    return ctx.services.storage.downloadUrl(
      { id: file.id, name: file.name, objectKey: file.objectKey, contentType: file.contentType } as StorageEntry,
      ctx.baseUrl,
      expiresIn,
    );
  }
}

function withPath<T extends Entry>(entry: T, path: string): T {
  entry.path = path;
  return entry;
}

@Resolver()
export class StorageResolver {
  @Query(() => Folder, { nullable: true, description: 'The folder at an absolute path ("/" is the root); null when none is there.' })
  async folder(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<Folder | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.findByPath(organizationId, path);
    return row?.kind === 'folder' ? withPath(toEntry(row) as Folder, normalizedPath(path)) : null;
  }

  @Query(() => File, { nullable: true, description: 'The file at an absolute path; null when none is there.' })
  async file(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<File | null> {
    const { organizationId } = requirePrincipal(ctx);
    const row = await ctx.services.storage.findByPath(organizationId, path);
    return row?.kind === 'file' ? withPath(toEntry(row) as File, normalizedPath(path)) : null;
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
    const storage = ctx.services.storage;
    let upload: FileUpload;
    let source: Readable;
    try {
      upload = await file;
      // Throws if the parser already gave up on this file (over the limit, client went away).
      source = upload.createReadStream();
    } catch (error) {
      if ((error as { status?: number }).status === 413) {
        metrics.uploads.inc({ outcome: 'too_large' });
        throw fileTooLarge(storage.maxUploadBytes);
      }
      throw multipartInputError(error, 'variables.file');
    }
    try {
      const row = await storage.uploadFile(organizationId, { folder, name: name ?? upload.filename ?? '', source, contentType: upload.mimetype });
      return toEntry(row) as File;
    } catch (error) {
      // The request body broke while the file streamed in (cut off, malformed): the client's error.
      if (error !== null && error !== undefined && source.errored === error) throw multipartInputError(error, 'variables.file');
      throw error;
    }
  }

  @Mutation(() => Folder, { description: 'Creates the folder and any missing parents; an existing folder is returned as is.' })
  async createFolder(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<Folder> {
    const { organizationId } = requirePrincipal(ctx);
    return toEntry(await ctx.services.storage.createFolder(organizationId, path)) as Folder;
  }

  @Mutation(() => Entry, { description: 'Renames in place; one row changes whatever the folder holds.' })
  async renameEntry(@Arg('path') path: string, @Arg('name') name: string, @Ctx() ctx: GatewayContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    return toEntry(await ctx.services.storage.renameEntry(organizationId, path, name));
  }

  @Mutation(() => Entry, { description: 'Moves into the folder `to`; one row changes whatever the folder holds.' })
  async moveEntry(@Arg('path') path: string, @Arg('to') to: string, @Ctx() ctx: GatewayContext): Promise<Entry> {
    const { organizationId } = requirePrincipal(ctx);
    return toEntry(await ctx.services.storage.moveEntry(organizationId, path, to));
  }

  @Mutation(() => DeleteEntryPayload, { description: 'Deletes a file, or a folder with everything in it.' })
  async deleteEntry(@Arg('path') path: string, @Ctx() ctx: GatewayContext): Promise<DeleteEntryPayload> {
    const { organizationId } = requirePrincipal(ctx);
    return ctx.services.storage.deleteEntry(organizationId, path);
  }
}

function normalizedPath(path: string): string {
  const nfc = path.normalize('NFC');
  return nfc.length > 1 && nfc.endsWith('/') ? nfc.slice(0, -1) : nfc;
}

export const storageResolvers = [StorageResolver, EntryFieldsResolver, FolderResolver, FileResolver] as const;
