import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, StorageDriver, WrittenObject } from './driver';
import { HashingCounter } from './hashing';

const SAFE_KEY = /^[A-Za-z0-9-]+(\/[A-Za-z0-9-]+)*$/;

/** Objects as files under one directory; `<dir>/<orgId>/<objectId>`. */
export class DiskDriver implements StorageDriver {
  readonly name = 'disk';

  constructor(readonly directory: string) {}

  private fileOf(key: string): string {
    if (!SAFE_KEY.test(key)) throw new Error(`invalid object key ${JSON.stringify(key)}`);
    return path.join(this.directory, key);
  }

  async write(key: string, source: Readable): Promise<WrittenObject> {
    const file = this.fileOf(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const counter = new HashingCounter();
    try {
      // 'wx': keys are never reused, so an existing file means a bug, not an overwrite.
      await pipeline(source, counter, fs.createWriteStream(file, { flags: 'wx' }));
    } catch (error) {
      await fs.promises.rm(file, { force: true });
      throw error;
    }
    return counter.result();
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

  async check(): Promise<void> {
    await fs.promises.mkdir(this.directory, { recursive: true });
    await fs.promises.access(this.directory, fs.constants.W_OK);
  }
}
