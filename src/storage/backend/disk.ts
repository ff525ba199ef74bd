import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, StorageDriver, WriteOptions } from './driver';

const SAFE_KEY = /^[A-Za-z0-9-]+(\/[A-Za-z0-9-]+)*$/;
/** Writes in progress, renamed into place when whole; keys cannot start with a dot. */
const INCOMING = '.incoming';

/** Objects as files under one directory; `<dir>/<orgId>/<objectId>`. */
export class DiskDriver implements StorageDriver {
  readonly name = 'disk';
  private readonly incoming: string;
  private readonly folders = new Set<string>();

  constructor(readonly directory: string) {
    this.incoming = path.join(directory, INCOMING);
  }

  private fileOf(key: string): string {
    if (!SAFE_KEY.test(key)) throw new Error(`invalid object key ${JSON.stringify(key)}`);
    return path.join(this.directory, key);
  }

  /** mkdir -p, once per directory and process (objects are never removed with their directory). */
  private async folder(dir: string): Promise<void> {
    if (this.folders.has(dir)) return;
    await fs.promises.mkdir(dir, { recursive: true });
    this.folders.add(dir);
  }

  async write(key: string, source: Readable, { visibleAfter }: WriteOptions): Promise<void> {
    const file = this.fileOf(key);
    const partial = path.join(this.incoming, randomUUID());
    try {
      await this.folder(this.incoming);
      // 'wx': a fresh name; the rename below is what makes the object appear, whole.
      const out = fs.createWriteStream(partial, { flags: 'wx' });
      const closed = pipeline(source, out);
      closed.catch(() => undefined); // awaited below
      // Every byte is written at 'finish'; the descriptor is closed after it ('close', which the
      // pipeline waits for). A file is renamed as well open as closed, so the close runs meanwhile.
      await Promise.race([closed, once(out, 'finish')]);
      await visibleAfter;
      await this.folder(path.dirname(file));
      await fs.promises.rename(partial, file).catch(async (error: NodeJS.ErrnoException) => {
        // The directory went away under us (removed by hand): make it again.
        if (error.code !== 'ENOENT') throw error;
        this.folders.delete(path.dirname(file));
        await this.folder(path.dirname(file));
        await fs.promises.rename(partial, file);
      });
      await closed;
    } catch (error) {
      await fs.promises.rm(partial, { force: true });
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.fileOf(key);
    const handle = await fs.promises.open(file, 'r');
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.fileOf(key), { force: true });
  }

  async signedUrl(): Promise<string | null> {
    return null;
  }

  /** Partial files of writes whose process died before it renamed or removed them. */
  async sweepIncomplete(olderThanMs: number): Promise<number> {
    const names = await fs.promises.readdir(this.incoming).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const file = path.join(this.incoming, name);
      const stat = await fs.promises.stat(file).catch(() => null);
      if (!stat || Date.now() - stat.mtimeMs < olderThanMs) continue;
      await fs.promises.rm(file, { force: true });
      removed++;
    }
    return removed;
  }

  async check(): Promise<void> {
    await fs.promises.mkdir(this.directory, { recursive: true });
    await fs.promises.access(this.directory, fs.constants.W_OK);
  }
}
