/**
 * Baseline (c): a plain node:http server that streams the request body to a file on disk with
 * the same byte limit as the gateway (MAX_UPLOAD_BYTES), hashing it (MD5, as the gateway keeps
 * `md5`) and renaming it into place, or answering 413 and removing the partial file. It does not
 * parse multipart: the simplest server that stores an upload.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { json, listen } from './common';

const dir = process.env.STORAGE_DIR!;
const limit = Number(process.env.MAX_UPLOAD_BYTES ?? 10 * 1024 * 1024);
fs.mkdirSync(dir, { recursive: true });

const server = http.createServer((req, res) => {
  const id = randomUUID();
  const partial = path.join(dir, `${id}.part`);
  const out = fs.createWriteStream(partial);
  const md5 = createHash('md5');
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > limit) {
      refused = true;
      out.destroy();
      fs.rm(partial, { force: true }, () => json(res, 413, { errors: [{ message: 'too large', extensions: { code: 'FILE_TOO_LARGE' } }] }));
      req.resume();
      return;
    }
    md5.update(chunk);
    if (!out.write(chunk)) {
      req.pause();
      out.once('drain', () => req.resume());
    }
  });
  req.on('end', () => {
    if (refused) return;
    out.end(() =>
      fs.rename(partial, path.join(dir, id), (error) =>
        error ? json(res, 500, { errors: [{ message: String(error) }] }) : json(res, 200, { data: { uploadFile: { id, size, md5: md5.digest('hex') } } }),
      ),
    );
  });
});
listen(server);
