import { isUuid } from '../db/ids';
import type { Readable } from 'node:stream';
import { IsInt, Max, Min } from 'class-validator';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { FileUpload, GraphQLUpload } from 'graphql-upload-minimal';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader } from '../graphql/context';
import type { OrganizationStorage } from './organization-storage';
import type { NodeFetcher } from '../graphql/node';
import { PageConnection, paginate } from '../graphql/connection';
import { selectedNodeFields } from '../graphql/selection';
import { PageArgs } from '../graphql/page-args';
import { joinPath, parsePath } from './names';
import { DEFAULT_URL_EXPIRY_SECONDS, MAX_URL_EXPIRY_SECONDS } from './downloads';
import {
  ClientUpload,
  DeleteEntryPayload,
  Entry,
  entryCursors,
  EntryConnection,
  EntryKind,
  File,
  Folder,
  FileVersion,
  FileVersionConnection,
  toEntry,
  toFileVersion,
  TrashConnection,
  TrashItem,
  trashCursors,
  versionCursors,
} from './storage.types';
import { AppError, ErrorCode } from '../graphql/errors';

/** What the storage resolvers use: the organization's storage. */
type StorageContext = GatewayContext<unknown, { storage: OrganizationStorage }>;

/** Per-request loader, so that the `parent` of a page of 100 entries (or `node` ids) is one statement. */
function entriesById(ctx: StorageContext) {
  return loader(
    ctx,
    'storage.entriesById',
    () =>
      new DataLoader<string, Folder | File | null>(async (ids) => {
        const rows = await ctx.org.storage.findByIds(ids);
        const byId = new Map(rows.map((r) => [r.id, toEntry(r, r.path)]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
  );
}

/** `node(id)` for entries (listed by the composition root). */
export const fetchStorageNode: NodeFetcher = async (ctx, id) => (isUuid(id) ? entriesById(ctx as StorageContext).load(id) : null);

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
    return (await entriesById(ctx).load(entry.parentId)) as Folder | null;
  }
}

/**
 * Fields of a listed Folder or File that read none of the columns a brief listing leaves out
 * (a file's object key, MD5 and etag; entry-store.ts BRIEF_CHILD_COLUMNS): an allowlist, so that a field added later reads full rows until it is
 * known not to need them.
 */
const BRIEF_FIELDS = new Set(['__typename', 'id', 'name', 'path', 'parent', 'createdAt', 'updatedAt', 'size', 'contentType', 'children']);
const needsFullRows = (fields: Set<string>): boolean => [...fields].some((field) => !BRIEF_FIELDS.has(field));

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
      const brief = !needsFullRows(selectedNodeFields(info));
      const page = await ctx.org.storage.listChildren(folder.id, { ...query, kind: args.kind ?? null, brief });
      // The children's `parent` is this folder: no statement for it.
      entriesById(ctx).prime(folder.id, folder);
      const prefix = folder.path === '/' ? '' : folder.path;
      return { ...page, rows: page.rows.map((row) => toEntry(row, `${prefix}/${row.name}`, folder.inTrash)) };
    });
  }
}

/** Nothing in the trash is downloadable: restore it first. */
function refuseInTrash(file: File): void {
  if (file.inTrash) throw new AppError(ErrorCode.NOT_FOUND, `${JSON.stringify(file.path)} is in the trash; restore it to download it`);
}

@Resolver(() => File)
export class FileResolver {
  @FieldResolver(() => String, { description: 'A URL that serves the bytes without an API key until it expires.' })
  async downloadUrl(
    @Root() file: File,
    @Args(() => DownloadUrlArgs) { expiresIn }: DownloadUrlArgs,
    @Ctx() ctx: StorageContext,
  ): Promise<string> {
    refuseInTrash(file);
    return ctx.org.storage.downloadUrl(file, ctx.baseUrl, expiresIn);
  }

  @FieldResolver(() => FileVersionConnection, {
    description: `The file's contents, newest first, what it is now included: each overwrite keeps the content it replaces. Kept: the newest FILE_VERSIONS_KEEP and all younger than FILE_VERSION_DAYS.`,
  })
  versions(
    @Root() file: File,
    @Args(() => PageArgs) args: PageArgs,
    @Ctx() ctx: StorageContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<FileVersion>> {
    return paginate(args, info, versionCursors, async (query) => {
      const page = await ctx.org.storage.listVersions(file.id, query);
      return { ...page, rows: page.rows.map((row) => toFileVersion(row, file)) };
    });
  }
}

@Resolver(() => FileVersion)
export class FileVersionResolver {
  @FieldResolver(() => String, {
    description: 'A URL that serves this content (whatever the file is later) without an API key until it expires.',
  })
  async downloadUrl(
    @Root() version: FileVersion,
    @Args(() => DownloadUrlArgs) { expiresIn }: DownloadUrlArgs,
    @Ctx() ctx: StorageContext,
  ): Promise<string> {
    const { file } = version;
    refuseInTrash(file);
    // The range (1 to MAX_URL_EXPIRY_SECONDS) is DownloadUrlArgs' rule.
    const expiresAt = new Date(Date.now() + (expiresIn ?? DEFAULT_URL_EXPIRY_SECONDS) * 1000);
    return ctx.org.storage.versionUrl(
      { id: file.id, name: file.name, objectKey: version.objectKey, contentType: version.contentType },
      version.etag,
      ctx.baseUrl,
      expiresAt,
    );
  }
}

@Resolver()
export class StorageResolver {
  @Query(() => Folder, { nullable: true, description: 'The folder at an absolute path ("/" is the root); null when none is there.' })
  async folder(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<Folder | null> {
    const row = await ctx.org.storage.findByPath(path);
    return row?.kind === 'folder' ? (toEntry(row, joinPath(parsePath(path))) as Folder) : null;
  }

  @Query(() => File, { nullable: true, description: 'The file at an absolute path; null when none is there.' })
  async file(@Arg('path') path: string, @Ctx() ctx: StorageContext): Promise<File | null> {
    const row = await ctx.org.storage.findByPath(path);
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
    // Both refuse a file the client failed to send as the client's error (the multipart adapter's).
    const upload: ClientUpload = await file;
    const source: Readable = upload.createReadStream();
    try {
      const row = await ctx.org.storage.uploadFile({
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
    const row = await ctx.org.storage.createFolder(path);
    return toEntry(row, joinPath(parsePath(path))) as Folder;
  }

  @Mutation(() => Entry, { description: 'Renames in place; one row changes whatever the folder holds.' })
  async renameEntry(@Arg('path') path: string, @Arg('name') name: string, @Ctx() ctx: StorageContext): Promise<Entry> {
    const row = await ctx.org.storage.renameEntry(path, name);
    return toEntry(row, joinPath([...parsePath(path).slice(0, -1), row.name]));
  }

  @Mutation(() => Entry, { description: 'Moves into the folder `to`; one row changes whatever the folder holds.' })
  async moveEntry(@Arg('path') path: string, @Arg('to') to: string, @Ctx() ctx: StorageContext): Promise<Entry> {
    const row = await ctx.org.storage.moveEntry(path, to);
    return toEntry(row, joinPath([...parsePath(to), row.name]));
  }

  @Mutation(() => DeleteEntryPayload, {
    description:
      'Moves a file, or a folder with everything in it, to the trash (one item; its name is free again); with `permanent: true` removes it for good.',
  })
  async deleteEntry(
    @Arg('path') path: string,
    @Arg('permanent', () => Boolean, { nullable: true, description: 'Remove for good instead of moving to the trash.' })
    permanent: boolean | null,
    @Ctx() ctx: StorageContext,
  ): Promise<DeleteEntryPayload> {
    return ctx.org.storage.deleteEntry(path, permanent === true);
  }

  @Query(() => TrashConnection, { description: 'What was deleted, newest first: one item per deleted entry (a folder holds its tree).' })
  trash(
    @Args(() => PageArgs) args: PageArgs,
    @Ctx() ctx: StorageContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<TrashItem>> {
    const { storage } = ctx.org;
    return paginate(args, info, trashCursors, async (query) => {
      const page = await storage.listTrash(query);
      const rows = page.rows.map((row) => {
        const item = new TrashItem();
        item.id = row.id;
        item.entry = toEntry(row, row.trashedPath, true);
        item.originalPath = row.trashedPath;
        item.deletedAt = row.trashedAt;
        item.expiresAt = storage.trashExpiresAt(row.trashedAt);
        return item;
      });
      return { ...page, rows };
    });
  }

  @Mutation(() => Entry, {
    description:
      'Puts a trash item back where it was (missing folders are recreated), or into folder `to`, with its ids, versions and content. A name taken meanwhile is NAME_CONFLICT; under `to` it becomes "name (1)" instead.',
  })
  async restoreEntry(
    @Arg('id', () => ID, { description: "The id of the trash item's entry." }) id: string,
    @Arg('to', () => String, { nullable: true, description: 'A folder to restore into instead (created if missing).' }) to: string | null,
    @Ctx() ctx: StorageContext,
  ): Promise<Entry> {
    const { row, path } = await ctx.org.storage.restoreEntry(id, to);
    return toEntry(row, path);
  }

  @Mutation(() => DeleteEntryPayload, { description: 'Removes everything in the trash for good.' })
  async emptyTrash(@Ctx() ctx: StorageContext): Promise<DeleteEntryPayload> {
    return ctx.org.storage.emptyTrash();
  }

  @Mutation(() => File, {
    description: "Makes a version's content the file's again, as a new version (the current content is kept as one too).",
  })
  async restoreFileVersion(
    @Arg('path') path: string,
    @Arg('versionId', () => ID) versionId: string,
    @Ctx() ctx: StorageContext,
  ): Promise<File> {
    const row = await ctx.org.storage.restoreVersion(path, versionId);
    return toEntry(row, joinPath(parsePath(path))) as File;
  }
}

export const storageResolvers = [StorageResolver, EntryFieldsResolver, FolderResolver, FileResolver, FileVersionResolver] as const;
