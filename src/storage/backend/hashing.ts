import { createHash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import type { WrittenObject } from './driver';

/** A pass-through that counts bytes and computes md5 as they go by. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('md5');
  size = 0;

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  result(): WrittenObject {
    return { size: this.size, md5: this.hash.digest('hex') };
  }
}
