import fs from 'node:fs';
import path from 'node:path';
import { joinPath, parsePath } from './names';
import type { Storage } from './storage';

export interface ImportFailure {
  /** Relative to the imported directory, `/`-separated. */
  path: string;
  reason: string;
}

export interface ImportSummary {
  files: number;
  bytes: number;
  seconds: number;
  failures: ImportFailure[];
}

export interface ImportProgress {
  start(totalFiles: number): void;
  advance(file: string): void;
  stop(): void;
}

interface LocalFile {
  relative: string[];
  absolute: string;
  size: number;
}

/** Files and folders under `root`, depth first, sorted by name; symlinks are followed. */
async function walk(root: string, relative: string[] = [], files: LocalFile[] = [], folders: string[][] = []) {
  const entries = (await fs.promises.readdir(path.join(root, ...relative), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  );
  for (const entry of entries) {
    const rel = [...relative, entry.name];
    const absolute = path.join(root, ...rel);
    const stat = await fs.promises.stat(absolute);
    if (stat.isDirectory()) {
      folders.push(rel);
      await walk(root, rel, files, folders);
    } else if (stat.isFile()) {
      files.push({ relative: rel, absolute, size: stat.size });
    }
  }
  return { files, folders };
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
  progress?: ImportProgress,
): Promise<ImportSummary> {
  const started = process.hrtime.bigint();
  const target = parsePath(to);
  const stat = await fs.promises.stat(directory).catch(() => null);
  if (!stat?.isDirectory()) throw new Error(`${directory} is not a directory`);
  const { files, folders } = await walk(directory);
  const failures: ImportFailure[] = [];
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
        const row = await storage.uploads.uploadFile(organizationId, {
          folder: joinPath([...target, ...file.relative.slice(0, -1)]),
          name: file.relative[file.relative.length - 1],
          source: fs.createReadStream(file.absolute),
        });
        imported++;
        bytes += Number(row.size);
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
  return { files: imported, bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9, failures };
}
