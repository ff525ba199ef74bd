import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import type { GcsDriver } from '../src/storage/backend/gcs';
import { startChildGateway, ChildGateway } from './support/process';
import { startGcsEmulator, GcsEmulatorHandle } from './support/gcs-emulator';
import { startTestGateway, TestGateway } from './support/gateway';
import { graphql } from './support/http';
import { filesUnder, md5, tempDir, uploadFile, writeFakeServiceAccount } from './support/storage';
import { waitFor } from './support/poll';

/**
 * A gateway process killed (SIGKILL) at each point of an upload that overwrites a file: while
 * the bytes stream and the pending record is not committed yet, with half the bytes written,
 * with the object in place but its commit statement not completed, and right after the commit.
 * Postgres locks held by the test stop the upload at the point, and the test waits for the
 * upload to be there before it kills the process. Whatever the point, no row is left without
 * its bytes, no bytes are left that the orphan sweep does not find, and a failed overwrite
 * keeps the old bytes and etag. Gateway A (in this process) only watches and sweeps.
 */

const FOLDER = '/crash';
const NAME = 'doc.bin';
const SIZE = 1024 * 1024;
const MUTATION =
  'mutation($folder: String!, $file: Upload!, $name: String) { uploadFile(folder: $folder, file: $file, name: $name) { id etag md5 } }';

interface Backend {
  env: Record<string, string>;
  /** Every object the backend holds, by key. */
  objects(): Promise<string[]>;
  /** Partial writes the driver keeps apart from objects until they are whole (disk: `.incoming`). */
  partials(): Array<{ name: string; size: number }>;
  close(): Promise<void>;
}

async function diskBackend(): Promise<Backend> {
  const dir = tempDir('alloy-crash-');
  const incoming = path.join(dir, '.incoming');
  return {
    env: { STORAGE_DRIVER: 'disk', STORAGE_DIR: dir },
    objects: async () =>
      filesUnder(dir)
        .filter((f) => !f.startsWith('.incoming'))
        .map((f) => f.split(path.sep).join('/')),
    partials: () =>
      fs.existsSync(incoming) ? fs.readdirSync(incoming).map((name) => ({ name, size: fs.statSync(path.join(incoming, name)).size })) : [],
    async close() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function gcsBackend(): Promise<Backend & { attach(gw: TestGateway): void }> {
  const emulator: GcsEmulatorHandle = await startGcsEmulator();
  const dir = tempDir('alloy-crash-gcs-');
  const credentials = writeFakeServiceAccount(dir);
  const previous = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GOOGLE_APPLICATION_CREDENTIALS = credentials;
  let driver: GcsDriver | undefined;
  return {
    env: {
      STORAGE_DRIVER: 'gcs',
      GCS_BUCKET: 'alloy-crash-bucket',
      STORAGE_EMULATOR_HOST: process.env.STORAGE_EMULATOR_HOST!,
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
    },
    attach: (gw) => (driver = gw.services.storage.driver as GcsDriver),
    async objects() {
      const [files] = await driver!.bucket.getFiles();
      return files.map((f) => f.name);
    },
    // A single-request upload that breaks off leaves nothing at all.
    partials: () => [],
    async close() {
      await emulator.stop();
      if (previous === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = previous;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A GraphQL multipart upload sent by hand, so that the test decides how much of it goes out. */
function startUpload(url: string, apiKey: string, bytes: Buffer, send: 'all' | 'half') {
  const boundary = `----crash${randomBytes(6).toString('hex')}`;
  const part = (headers: string, value: string) => `--${boundary}\r\n${headers}\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    part(
      'Content-Disposition: form-data; name="operations"',
      JSON.stringify({ query: MUTATION, variables: { folder: FOLDER, name: NAME, file: null } }),
    ) +
      part('Content-Disposition: form-data; name="map"', JSON.stringify({ 0: ['variables.file'] })) +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="${NAME}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = http.request(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'api-key': apiKey,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + bytes.length + tail.length,
    },
  });
  /** `status` 0: no answer, the connection dropped (the gateway was killed). */
  const answer = new Promise<{ status: number; body?: any }>((resolve) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('error', () => resolve({ status: 0 }));
  });
  const sent = new Promise<void>((resolve) => req.once('finish', () => resolve()));
  req.write(head);
  if (send === 'all') req.end(Buffer.concat([bytes, tail]));
  else req.write(bytes.subarray(0, bytes.length / 2));
  return { answer, sent, abort: () => req.destroy() };
}

describe.each([
  ['disk', diskBackend],
  ['gcs', gcsBackend],
] as const)('an upload over an existing file, its gateway killed at each point (%s driver)', (driverName, makeBackend) => {
  let backend: Backend;
  let a: TestGateway;
  let org: { orgId: string; apiKey: string };
  /** Holds the locks, in a transaction of its own. */
  let locker: Client;
  /** Looks (pg_stat_activity is a snapshot per transaction, so never from inside the locker's). */
  let sql: Client;
  let child: ChildGateway | undefined;

  beforeAll(async () => {
    backend = await makeBackend();
    // Replaced objects go as soon as their deletion job runs.
    const env = { ...backend.env, STORAGE_DELETION_DELAY_SECONDS: '0' };
    a = await startTestGateway({ env });
    (backend as { attach?: (gw: TestGateway) => void }).attach?.(a);
    backend.env = env;
    org = await a.createOrg();
    sql = new Client({ connectionString: a.database.url });
    await sql.connect();
    locker = new Client({ connectionString: a.database.url });
    await locker.connect();
  }, 120_000);

  afterAll(async () => {
    await child?.stop();
    await locker?.end();
    await sql?.end();
    await a?.close();
    await backend?.close();
  });

  afterEach(async () => {
    // A test that failed before its crash leaves its gateway running.
    if (child) await crash();
  });

  const query = async <T = any>(text: string, params: unknown[] = []): Promise<T[]> => (await sql.query(text, params)).rows;

  /** The file as it is before the crash: uploaded whole through A. */
  async function existingFile(): Promise<{ id: string; etag: string; md5: string; bytes: Buffer }> {
    const bytes = randomBytes(4096);
    const res = await uploadFile(a.url, org.apiKey, FOLDER, NAME, bytes, { select: 'id etag md5' });
    expect(res.body.errors).toBeUndefined();
    return { ...res.body.data.uploadFile, bytes };
  }

  const startChild = async () => (child = await startChildGateway(a.database.url, backend.env));

  /**
   * SIGKILLs the child, waits until Postgres has noticed the death (the child's connections are
   * gone, and with them its open transaction and any statement it was waiting in: Postgres checks
   * a running statement's connection every second, client_connection_check_interval), then lets
   * go of the test's locks. A statement still waiting when its gateway dies never completes: an
   * upload's commit is one autocommitted statement, which would otherwise run on and commit once
   * the lock is free.
   */
  async function crash(): Promise<void> {
    const dead = child!;
    child = undefined;
    const exited = new Promise((resolve) => dead.process.once('exit', resolve));
    dead.process.kill('SIGKILL');
    await exited;
    await waitFor(
      async () =>
        (
          await query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-gateway'`,
          )
        )[0].n === 0,
      Boolean,
      30_000,
      "the killed gateway's connections to close",
    );
    await locker.query('ROLLBACK');
  }

  const blockedOn = async (pattern: string) =>
    (
      await query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
        [pattern],
      )
    )[0].n > 0;

  const pendingKeys = async () =>
    (await query<{ object_key: string }>(`SELECT object_key FROM storage_pending_objects`)).map((r) => r.object_key);
  /** The objects of the files and of their kept versions (an overwrite keeps the old content as one). */
  const fileKeys = async () =>
    (
      await query<{ object_key: string }>(
        `SELECT object_key FROM storage_entries WHERE kind = 'file' UNION ALL SELECT object_key FROM storage_file_versions`,
      )
    ).map((r) => r.object_key);

  /**
   * The invariants after a crash: every file row's object is there; every object is a file
   * row's or named by a pending record; `file` is what the path reads, bytes included; after the
   * orphan sweep exactly the rows' objects are left, with no pending record and no partial write.
   */
  async function expectConsistent(file: { id: string; etag: string; md5: string; bytes: Buffer }): Promise<void> {
    const objects = new Set(await backend.objects());
    const referenced = await fileKeys();
    for (const key of referenced) expect(objects.has(key)).toBe(true);
    const known = new Set([...referenced, ...(await pendingKeys())]);
    for (const key of objects) expect(known.has(key)).toBe(true);

    const read = await graphql(a.url, `{ file(path: "${FOLDER}/${NAME}") { id etag md5 } }`, {}, { apiKey: org.apiKey });
    expect(read.body.data.file).toEqual({ id: file.id, etag: file.etag, md5: file.md5 });
    const content = await fetch(`${a.url}/files/${file.id}/content`, { headers: { 'api-key': org.apiKey } });
    expect(content.headers.get('etag')).toBe(`"${file.etag}"`);
    expect(md5(Buffer.from(await content.arrayBuffer()))).toBe(file.md5);

    await waitFor(
      async () => (await a.services.storage.sweepOrphans(0)) >= 0 && (await pendingKeys()).length === 0,
      Boolean,
      30_000,
      'the sweep to take every pending record',
    );
    expect((await backend.objects()).sort()).toEqual((await fileKeys()).sort());
    expect(backend.partials()).toEqual([]);
  }

  it('leaves the old file when killed while the bytes stream and the pending record is not committed', async () => {
    const old = await existingFile();
    await startChild();
    // Holds the pending record's INSERT: the bytes stream meanwhile, but may not appear at their key.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE storage_pending_objects IN EXCLUSIVE MODE');
    const upload = startUpload(child!.url, org.apiKey, randomBytes(SIZE), 'all');
    await upload.sent;
    await waitFor(() => blockedOn('INSERT INTO storage_pending_objects%'), Boolean, 30_000, 'the pending record to wait for the lock');
    if (driverName === 'disk')
      await waitFor(async () => backend.partials().some((p) => p.size === SIZE), Boolean, 30_000, 'every byte to be in the partial write');
    expect(await backend.objects()).toEqual(await fileKeys()); // nothing appeared at a new key
    await crash();
    expect((await upload.answer).status).toBe(0);
    await expectConsistent(old);
  });

  it('leaves the old file when killed with the pending record committed and half the bytes written', async () => {
    const old = await existingFile();
    await startChild();
    const upload = startUpload(child!.url, org.apiKey, randomBytes(SIZE), 'half');
    await waitFor(async () => (await pendingKeys()).length === 1, Boolean, 30_000, 'the pending record to be committed');
    if (driverName === 'disk')
      await waitFor(async () => backend.partials().some((p) => p.size > 0), Boolean, 30_000, 'bytes in the partial write');
    await crash();
    upload.abort();
    await expectConsistent(old);
  });

  it('leaves the old file when killed with the new object in place and its commit statement not completed', async () => {
    const old = await existingFile();
    await startChild();
    // Holds the commit statement (one autocommitted statement) at the file's row lock. Matched by
    // its pending record's lock, early in its text (pg_stat_activity keeps the first 1 KiB).
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM storage_entries WHERE id = $1 FOR UPDATE', [old.id]);
    const upload = startUpload(child!.url, org.apiKey, randomBytes(SIZE), 'all');
    await waitFor(
      () => blockedOn('%pending AS (SELECT 1 FROM storage_pending_objects WHERE object_key = $4 FOR UPDATE)%'),
      Boolean,
      30_000,
      'the commit to wait for the lock',
    );
    const [pending] = await pendingKeys();
    expect(await backend.objects()).toContain(pending); // whole, at its key, and named by its pending record
    await crash();
    expect((await upload.answer).status).toBe(0);
    await expectConsistent(old);
  });

  it('keeps the new version when killed right after the commit, and the old content as a version', async () => {
    const old = await existingFile();
    const [{ object_key: oldKey }] = await query(`SELECT object_key FROM storage_entries WHERE id = $1`, [old.id]);
    await startChild();
    const bytes = randomBytes(SIZE);
    const answer = await startUpload(child!.url, org.apiKey, bytes, 'all').answer;
    await crash();
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    const now = answer.body.data.uploadFile;
    expect(now).toMatchObject({ id: old.id, md5: md5(bytes) });
    expect(now.etag).not.toBe(old.etag);
    // The old content's object is now a version's, committed with the new content.
    expect(await query(`SELECT object_key FROM storage_file_versions WHERE file_id = $1 AND etag = $2`, [old.id, old.etag])).toEqual([
      { object_key: oldKey },
    ]);
    expect(await backend.objects()).toContain(oldKey);
    await expectConsistent({ ...now, bytes });
  });
});
