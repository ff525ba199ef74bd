/**
 * Baseline (c): the simplest server that stores an upload: plain node:http streams the request
 * body to a file on disk with the same byte limit as the gateway (MAX_UPLOAD_BYTES), hashing it
 * (MD5, as the gateway keeps `md5`), renames it into place, and inserts one row for it (one
 * prepared, autocommitted INSERT into a table of its own); or answers 413 and removes the
 * partial file. It does not parse multipart: the whole body is the file.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { json, listen, pool, unavailable } from './common';

const dir = process.env.STORAGE_DIR!;
const limit = Number(process.env.MAX_UPLOAD_BYTES ?? 10 * 1024 * 1024);
const INSERT = {
  name: 'baseline-upload-insert',
  text: `INSERT INTO bench_baseline_uploads (id, object_key, size, md5) VALUES ($1, $2, $3, $4)`,
};

async function main() {
  fs.mkdirSync(dir, { recursive: true });
  const db = pool();
  await db.query(`CREATE TABLE IF NOT EXISTS bench_baseline_uploads (
    id uuid PRIMARY KEY, object_key text NOT NULL, size bigint NOT NULL, md5 text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);

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
        fs.rm(partial, { force: true }, () =>
          json(res, 413, { errors: [{ message: 'too large', extensions: { code: 'FILE_TOO_LARGE' } }] }),
        );
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
      out.end(async () => {
        try {
          await fs.promises.rename(partial, path.join(dir, id));
          const digest = md5.digest('hex');
          await db.query({ ...INSERT, values: [id, id, size, digest] });
          json(res, 200, { data: { uploadFile: { id, size, md5: digest } } });
        } catch (error) {
          json(res, 500, { errors: [{ message: String(error) }] });
        }
      });
    });
  });
  listen(server);
}
main().catch((error) => unavailable(String(error)));
