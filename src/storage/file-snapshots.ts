import { AppError, ErrorCode } from '../graphql/errors';
import type { Downloads } from './downloads';
import type { EntryReads } from './entry-reads';
import { joinPath, parsePath } from './names';

/** A file as a run is given it (the shape of workflows' RunFileSnapshot, which this class serves). */
export interface FileSnapshot {
  id: string;
  path: string;
  name: string;
  contentType: string;
  size: number;
  md5: string;
  etag: string;
  objectKey: string;
}

/**
 * Files handed to workflow runs: what a file is at the moment a run starts (its object key names
 * those very bytes: every upload writes a new object), and links that serve exactly that object.
 * The bytes of a snapshot outlive an overwrite while a run that was given them is active
 * (Storage.deleteObjects asks `keepObjects` before deleting).
 */
export class FileSnapshots {
  constructor(
    private readonly reads: EntryReads,
    private readonly downloads: Downloads,
  ) {}

  /** The files at `paths`, in order (a path given twice once); NOT_FOUND naming the first path that is no file. */
  async snapshot(organizationId: string, paths: readonly string[]): Promise<FileSnapshot[]> {
    const seen = new Set<string>();
    const files: FileSnapshot[] = [];
    for (const raw of paths) {
      let path: string;
      try {
        path = joinPath(parsePath(raw));
      } catch (error) {
        if (error instanceof AppError) throw new AppError(error.code, error.message, { argument: 'files' });
        throw error;
      }
      if (seen.has(path)) continue;
      seen.add(path);
      const row = await this.reads.findByPath(organizationId, path);
      if (!row || row.kind !== 'file') {
        throw new AppError(ErrorCode.NOT_FOUND, `No file at ${JSON.stringify(path)}; nothing was started`, { argument: 'files', path });
      }
      files.push({
        id: row.id,
        path,
        name: row.name,
        contentType: row.contentType!,
        size: Number(row.size),
        md5: row.md5!,
        etag: row.etag!,
        objectKey: row.objectKey!,
      });
    }
    return files;
  }

  /** A URL serving the snapshot's bytes without a key until `expiresAt` (see Downloads.versionUrl). */
  downloadUrl(file: FileSnapshot, baseUrl: string, expiresAt: Date): Promise<string> {
    return this.downloads.versionUrl(
      { id: file.id, name: file.name, objectKey: file.objectKey, contentType: file.contentType },
      file.etag,
      baseUrl,
      expiresAt,
    );
  }
}
