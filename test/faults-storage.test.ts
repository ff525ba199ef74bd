import fs from 'node:fs';
import path from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ByteRange, WriteOptions } from '../src/storage/backend/driver';
import { useGatewayWithOrg } from './support/gateway';
import { errorCode, graphql } from './support/http';
import { waitFor } from './support/poll';
import { CountingDriver, filesUnder, md5, uploadFile } from './support/storage';

/**
 * The storage backend failing under the real server (NODE_ENV=production, so errors are masked)
 * on the real Postgres: an upload that breaks mid-stream stores nothing, leaves nothing after the
 * orphan sweep, and an overwrite that breaks keeps the old file; a read that breaks is a clean 500.
 */

/** The disk driver with switchable faults, as a flaky network backend would behave. */
class FaultyDriver extends CountingDriver {
  /** The write stream errors after this many bytes (the backend dropped the connection). */
  failWriteAfter: number | null = null;
  /** The backend stored a truncated object, then the write failed; deletes fail too (backend down). */
  dieAfter: number | null = null;
  failReads: 'open' | 'stream' | null = null;

  async write(key: string, source: Readable, options: WriteOptions): Promise<void> {
    // pipeline, as real drivers do: a failure downstream also ends the upload's source.
    if (this.failWriteAfter !== null)
      return super.write(
        key,
        pipeline(source, breakAfter(this.failWriteAfter), () => undefined),
        options,
      );
    if (this.dieAfter !== null) {
      await super.write(
        key,
        pipeline(source, truncateAt(this.dieAfter), () => undefined),
        options,
      );
      throw Object.assign(new Error('write ECONNRESET /var/internal/bucket'), { code: 'ECONNRESET' });
    }
    return super.write(key, source, options);
  }

  async delete(key: string): Promise<void> {
    if (this.dieAfter !== null) throw new Error('connect ECONNREFUSED 10.0.0.7:443');
    return super.delete(key);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    if (this.failReads === 'open') throw Object.assign(new Error('EIO: i/o error, open /srv/objects/secret'), { code: 'EIO' });
    const stream = await super.read(key, range);
    if (this.failReads === 'stream') {
      stream.destroy();
      const broken = new Readable({ read() {} });
      process.nextTick(() => broken.destroy(new Error('EIO: i/o error, read /srv/objects/secret')));
      return broken;
    }
    return stream;
  }
}

function breakAfter(bytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > bytes) return callback(new Error('socket hang up while writing to /var/internal/bucket'));
      callback(null, chunk);
    },
  });
}

/** Passes the first `bytes`, then ends the stream as if the rest never arrived. */
function truncateAt(bytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const room = Math.max(0, bytes - seen);
      seen += chunk.length;
      callback(null, room > 0 ? chunk.subarray(0, room) : undefined);
    },
  });
}

const LEAKS = /stack|ECONNRESET|ECONNREFUSED|EIO|socket hang up|\/var\/|\/srv\/|storage_|SELECT|INSERT/i;

let driver: FaultyDriver;
const { gw, org } = useGatewayWithOrg({
  env: { NODE_ENV: 'production', STORAGE_DRIVER: 'disk' },
  storageDir: true,
  wrapStorageDriver: (inner) => (driver = new FaultyDriver(inner)),
});

afterEach(() => {
  driver.failWriteAfter = null;
  driver.dieAfter = null;
  driver.failReads = null;
});

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251));

async function storedRows(name: string) {
  return gw.db.query(`SELECT id, etag, md5 FROM storage_entries WHERE organization_id = $1 AND name = $2`, [org.orgId, name]);
}
const pendingCount = async () => (await gw.db.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n;
const objectsOnDisk = () => filesUnder(gw.config.storageDir);

function expectCleanFailure(res: Awaited<ReturnType<typeof uploadFile>>) {
  expect(res.status).toBeLessThan(500);
  expect(res.body.data ?? null).toBeNull();
  expect(errorCode(res)).toBe('INTERNAL_SERVER_ERROR');
  expect(res.body.errors![0].message).toBe('Internal server error');
  expect(JSON.stringify(res.body)).not.toMatch(LEAKS);
}

describe('storage driver failing mid-upload', () => {
  it('answers a clean error and stores nothing when the write stream breaks after some bytes', async () => {
    const before = objectsOnDisk();
    driver.failWriteAfter = 64 * 1024;
    const res = await uploadFile(gw.url, org.apiKey, '/broken', 'big.bin', bytes(512 * 1024, 1));
    expectCleanFailure(res);

    expect(await storedRows('big.bin')).toEqual([]);
    expect(await pendingCount()).toBe(0);
    expect(objectsOnDisk()).toEqual(before);
    // The server still serves the same path once the backend is back.
    const ok = await uploadFile(gw.url, org.apiKey, '/broken', 'big.bin', 'fine');
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.uploadFile.md5).toBe(md5('fine'));
  });

  it('leaves a pending record for a truncated object it could not delete, and the sweep removes both', async () => {
    const before = objectsOnDisk();
    driver.dieAfter = 10_000;
    const res = await uploadFile(gw.url, org.apiKey, '/dying', 'half.bin', bytes(300 * 1024, 2));
    expectCleanFailure(res);
    expect(await storedRows('half.bin')).toEqual([]);
    // The backend kept a truncated object and was down for the cleanup: it is known as pending.
    const leftover = objectsOnDisk().filter((f) => !before.includes(f));
    expect(leftover).toHaveLength(1);
    expect(fs.statSync(path.join(gw.config.storageDir, leftover[0])).size).toBe(10_000);
    const pending: Array<{ object_key: string }> = await gw.db.query(`SELECT object_key FROM storage_pending_objects`);
    expect(pending.map((p) => p.object_key)).toEqual([leftover[0].split(path.sep).join('/')]);

    driver.dieAfter = null;
    expect(await gw.services.storage.sweepOrphans(0)).toBe(1);
    expect(await pendingCount()).toBe(0);
    expect(objectsOnDisk()).toEqual(before);
    expect(await storedRows('half.bin')).toEqual([]);
  });

  it('keeps the old bytes and etag of a file whose overwrite fails', async () => {
    const original = bytes(40_000, 3);
    const first = await uploadFile(gw.url, org.apiKey, '/keep', 'doc.bin', original);
    expect(first.body.errors).toBeUndefined();
    const { id, etag } = first.body.data.uploadFile;
    const objectsBefore = objectsOnDisk();

    for (const fault of ['failWriteAfter', 'dieAfter'] as const) {
      driver[fault] = 1000;
      expectCleanFailure(await uploadFile(gw.url, org.apiKey, '/keep', 'doc.bin', bytes(200_000, 4)));
      driver[fault] = null;
      await gw.services.storage.sweepOrphans(0);
    }

    expect(await storedRows('doc.bin')).toEqual([{ id, etag, md5: md5(original) }]);
    expect(objectsOnDisk()).toEqual(objectsBefore);
    expect(await pendingCount()).toBe(0);
    const read = await graphql(
      gw.url,
      `
        {
          file(path: "/keep/doc.bin") {
            id
            etag
            md5
            size
          }
        }
      `,
      {},
      { apiKey: org.apiKey },
    );
    expect(read.body.data.file).toEqual({ id, etag, md5: md5(original), size: original.length });
    const content = await fetch(`${gw.url}/files/${id}/content`, { headers: { 'api-key': org.apiKey } });
    expect(content.status).toBe(200);
    expect(content.headers.get('etag')).toBe(`"${etag}"`);
    expect(md5(Buffer.from(await content.arrayBuffer()))).toBe(md5(original));
  });
});

describe('storage driver failing on read', () => {
  it.each(['open', 'stream'] as const)('answers GET /files/:id/content with a clean 500 JSON when the %s fails', async (failure) => {
    const up = await uploadFile(gw.url, org.apiKey, '/reads', `${failure}.txt`, 'some bytes');
    const { id } = up.body.data.uploadFile;
    driver.failReads = failure;
    const res = await fetch(`${gw.url}/files/${id}/content`, { headers: { 'api-key': org.apiKey } });
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(JSON.parse(text)).toEqual({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    expect(text).not.toMatch(LEAKS);

    driver.failReads = null;
    const again = await fetch(`${gw.url}/files/${id}/content`, { headers: { 'api-key': org.apiKey } });
    expect(await again.text()).toBe('some bytes');
  });
});

describe('storage driver failing while a text is read for search', () => {
  /**
   * `putOff`: the row waits for a retry (read_after within the 10 s retry delay), not for the
   * lease a drain takes on it while it reads (300 s): the failed read is over and recorded.
   */
  const textRow = async (id: string) =>
    (
      await gw.db.query(
        `SELECT status, attempts, read_after > now() AS "waits", read_after < now() + interval '1 minute' AS "putOff"
           FROM storage_texts WHERE entry_id = $1`,
        [id],
      )
    )[0] as { status: string; attempts: number; waits: boolean; putOff: boolean };

  it('leaves the file PENDING for a later drain, which reads it once the backend answers again', async () => {
    driver.failReads = 'open';
    const up = await uploadFile(gw.url, org.apiKey, '/texts', 'heron.txt', 'a resilient heron', { select: 'id textStatus' });
    expect(up.body.data.uploadFile.textStatus).toBe('PENDING');
    const { id } = up.body.data.uploadFile;
    // The drain kicked after the commit tried once, and put the row off for its next try.
    expect(
      await waitFor(
        () => textRow(id),
        (row) => row.attempts === 1 && row.putOff,
        30_000,
        'the first read to fail',
      ),
    ).toEqual({
      status: 'PENDING',
      attempts: 1,
      waits: true,
      putOff: true,
    });
    driver.failReads = null;
    // Its time has come (instead of waiting out the delay), and any drain reads it: here a kick's.
    await gw.db.query(`UPDATE storage_texts SET read_after = now() WHERE entry_id = $1`, [id]);
    gw.services.storage.texts.kick();
    expect(
      await waitFor(
        () => textRow(id),
        (row) => row.status !== 'PENDING',
        30_000,
        'the second read',
      ),
    ).toMatchObject({
      status: 'INDEXED',
      attempts: 2,
    });
  });
});
