import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ByteRange, SignedUrlOptions, StorageDriver, WriteOptions } from '../../src/storage/backend/driver';
import type { Storage } from '../../src/storage/storage';
import { GraphQLResponse, postGraphql } from './http';
import { waitFor } from './poll';

export const md5 = (bytes: Buffer | string) => createHash('md5').update(bytes).digest('hex');

/** A multipart GraphQL upload as `curl -F` sends it: only the api-key header is added. */
export async function uploadFile(
  baseUrl: string,
  apiKey: string | undefined,
  folder: string,
  fileName: string,
  bytes: Buffer | string,
  options: { name?: string; contentType?: string; headers?: Record<string, string>; select?: string } = {},
): Promise<GraphQLResponse> {
  const form = new FormData();
  const select = options.select ?? 'id name path size contentType md5 etag';
  form.append(
    'operations',
    JSON.stringify({
      query: `mutation($folder: String!, $file: Upload!, $name: String) { uploadFile(folder: $folder, file: $file, name: $name) { ${select} } }`,
      variables: { folder, file: null, name: options.name ?? null },
    }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([bytes], options.contentType ? { type: options.contentType } : {}), fileName);
  return postGraphql(baseUrl, form, { apiKey, headers: options.headers });
}

/** Wraps a driver, counts the calls that change stored objects, and can fail its deletes (backend down). */
export class CountingDriver implements StorageDriver {
  writes = 0;
  deletes = 0;
  failDeletes = false;
  constructor(readonly inner: StorageDriver) {}
  get name() {
    return this.inner.name;
  }
  async write(key: string, source: Readable, options: WriteOptions): Promise<void> {
    this.writes++;
    return this.inner.write(key, source, options);
  }
  read(key: string, range?: ByteRange) {
    return this.inner.read(key, range);
  }
  async delete(key: string) {
    this.deletes++;
    if (this.failDeletes) throw new Error('storage unreachable');
    return this.inner.delete(key);
  }
  sweepIncomplete(olderThanMs: number) {
    return this.inner.sweepIncomplete(olderThanMs);
  }
  signedUrl(key: string, options: SignedUrlOptions) {
    return this.inner.signedUrl(key, options);
  }
  check() {
    return this.inner.check();
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Every file under `dir`, as paths relative to it. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath ?? (d as any).path, d.name)));
}

/** A throwaway service-account key so the gcs client can sign V4 URLs locally (the emulator does not check). */
export function writeFakeServiceAccount(dir: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = path.join(dir, 'service-account.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      type: 'service_account',
      project_id: 'demo-test',
      private_key_id: 'test',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'alloy-test@demo-test.iam.gserviceaccount.com',
      client_id: '1',
      token_uri: 'http://127.0.0.1:9/token',
    }),
  );
  return file;
}

/**
 * Expires every kept version now (as the retention job does past FILE_VERSIONS_KEEP and
 * FILE_VERSION_DAYS), so that the replaced objects' deletion job is sent, and waits until it ran.
 */
export async function expireVersionsAndAwaitDeletion(gw: {
  db: { query(sql: string): Promise<Array<Record<string, any>>> };
  services: { storage: Storage };
}): Promise<void> {
  await gw.db.query(`UPDATE storage_file_versions SET created_at = created_at - interval '400 days'`);
  const { versions } = gw.services.storage;
  const keep = versions.keep;
  versions.keep = 1;
  try {
    expect((await gw.services.storage.expire()).versionFiles).toBe(1);
  } finally {
    versions.keep = keep;
  }
  await waitFor(
    async () =>
      (await gw.db.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'storage.delete-objects' AND state = 'completed'`))[0].n,
    (n) => n > 0,
    10_000,
    'the deletion job to run',
  );
}
