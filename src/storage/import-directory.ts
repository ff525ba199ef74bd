import fs from 'node:fs';
import path from 'node:path';
import { joinPath, parsePath } from './names';
import type { Storage } from './storage';

export interface ImportFailure {
  /** Relative to the imported directory, `/`-separated. */
  path: string;
  reason: string;
}

/** An entry that was not read: a symbolic link (not followed, or leading out of the directory) or a special file. */
export interface ImportSkip {
  /** Relative to the imported directory, `/`-separated. */
  path: string;
  reason: string;
}

export interface ImportSummary {
  files: number;
  bytes: number;
  seconds: number;
  failures: ImportFailure[];
  skipped: ImportSkip[];
}

export interface ImportProgress {
  start(totalFiles: number): void;
  advance(file: string): void;
  stop(): void;
}

export interface ImportOptions {
  /** Follow symbolic links whose target lies inside the directory (links out of it are skipped all the same). */
  followLinks?: boolean;
  progress?: ImportProgress;
}

/** The directory given to an import cannot be used; `code` is stable (the CLI prints it under --json). */
export class ImportDirectoryError extends Error {
  constructor(
    readonly code: 'DIRECTORY_NOT_FOUND' | 'NOT_A_DIRECTORY' | 'DIRECTORY_UNREADABLE',
    message: string,
  ) {
    super(message);
    this.name = 'ImportDirectoryError';
  }
}

/**
 * The real path of the directory to import, or an ImportDirectoryError saying what is wrong with
 * `directory` (missing, a file, unreadable). A link given as the directory itself is followed: the
 * user named it.
 */
export async function resolveImportDirectory(directory: string): Promise<string> {
  let real: string;
  try {
    real = await fs.promises.realpath(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const resolved = path.isAbsolute(directory) ? '' : ` (from ${process.cwd()})`;
      throw new ImportDirectoryError('DIRECTORY_NOT_FOUND', `${directory}: no such directory${resolved}`);
    }
    throw new ImportDirectoryError('DIRECTORY_UNREADABLE', `${directory} cannot be read (${code ?? 'unknown error'})`);
  }
  const stat = await fs.promises.stat(real);
  if (!stat.isDirectory()) throw new ImportDirectoryError('NOT_A_DIRECTORY', `${directory} is not a directory: give the folder to import`);
  try {
    await (await fs.promises.opendir(real)).close();
  } catch (error) {
    throw new ImportDirectoryError(
      'DIRECTORY_UNREADABLE',
      `${directory} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    );
  }
  return real;
}

interface LocalFile {
  relative: string[];
  /** A real path inside the imported directory (a followed link's target). */
  absolute: string;
  size: number;
}

interface Walked {
  files: LocalFile[];
  folders: string[][];
  skipped: ImportSkip[];
  failures: ImportFailure[];
}

const isInside = (root: string, target: string) => target === root || target.startsWith(root + path.sep);

/**
 * Files and folders under `root` (a real path), depth first, sorted by name. Only what lies inside
 * `root` is listed: symbolic links are skipped unless `followLinks`, and then followed only when
 * their target is inside `root` (a link to a folder above the link is a loop, skipped too); sockets,
 * FIFOs and devices are skipped, never opened.
 */
async function walk(
  root: string,
  dir: string,
  relative: string[],
  ancestors: ReadonlySet<string>,
  followLinks: boolean,
  out: Walked,
): Promise<Walked> {
  let entries: fs.Dirent[];
  try {
    entries = (await fs.promises.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch (error) {
    out.failures.push({ path: relative.join('/') || '.', reason: `cannot be read (${(error as NodeJS.ErrnoException).code})` });
    return out;
  }
  for (const entry of entries) {
    const rel = [...relative, entry.name];
    const shown = rel.join('/');
    let absolute = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      if (!followLinks) {
        out.skipped.push({ path: shown, reason: 'symbolic link' });
        continue;
      }
      const target = await fs.promises.realpath(absolute).catch(() => null);
      if (target === null) {
        out.skipped.push({ path: shown, reason: 'symbolic link to nothing' });
        continue;
      }
      if (!isInside(root, target)) {
        out.skipped.push({ path: shown, reason: 'symbolic link out of the directory' });
        continue;
      }
      absolute = target;
    }
    const stat = await fs.promises.lstat(absolute).catch(() => null);
    if (stat?.isDirectory()) {
      if (ancestors.has(absolute)) {
        out.skipped.push({ path: shown, reason: 'symbolic link to a folder that contains it' });
        continue;
      }
      out.folders.push(rel);
      await walk(root, absolute, rel, new Set([...ancestors, absolute]), followLinks, out);
    } else if (stat?.isFile()) {
      out.files.push({ relative: rel, absolute, size: stat.size });
    } else if (stat) {
      out.skipped.push({ path: shown, reason: 'special file' });
    }
  }
  return out;
}

/** Opens a listed file for reading: never through a link, never blocking on a FIFO put in its place since. */
async function openRegularFile(absolute: string): Promise<fs.promises.FileHandle> {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const handle = await fs.promises.open(absolute, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new Error('no longer a regular file');
  }
  return handle;
}

const CONCURRENCY = 4;

/**
 * Uploads a local directory tree into `to` through the storage services, the code path of `uploadFile`.
 * A file that fails (too large, invalid name, conflict) is reported and the rest go on.
 */
export async function importDirectory(
  storage: Storage,
  organizationId: string,
  directory: string,
  to: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const started = process.hrtime.bigint();
  const { progress } = options;
  const target = parsePath(to);
  const root = await resolveImportDirectory(directory);
  const { files, folders, skipped, failures } = await walk(root, root, [], new Set([root]), options.followLinks === true, {
    files: [],
    folders: [],
    skipped: [],
    failures: [],
  });
  const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

  await storage.changes.createFolder(organizationId, joinPath(target));
  // Empty folders too, so the imported tree looks like the local one.
  for (const folder of folders) {
    try {
      await storage.changes.createFolder(organizationId, joinPath([...target, ...folder]));
    } catch (error) {
      failures.push({ path: folder.join('/'), reason: reasonOf(error) });
    }
  }

  progress?.start(files.length);
  let imported = 0;
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      const shown = file.relative.join('/');
      try {
        // Refused before it is read when its size is known to be over the limit.
        storage.uploads.size.check(file.size);
        const source = (await openRegularFile(file.absolute)).createReadStream();
        try {
          const row = await storage.uploads.uploadFile(organizationId, {
            folder: joinPath([...target, ...file.relative.slice(0, -1)]),
            name: file.relative[file.relative.length - 1],
            source,
          });
          imported++;
          bytes += Number(row.size);
        } finally {
          // An upload refused before reading to the end leaves the file open otherwise.
          source.destroy();
        }
      } catch (error) {
        failures.push({ path: shown, reason: reasonOf(error) });
      }
      progress?.advance(shown);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    progress?.stop();
  }
  failures.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { files: imported, bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9, failures, skipped };
}
