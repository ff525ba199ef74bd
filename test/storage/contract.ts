import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { errorCode, graphql } from '../support/http';
import type { TestGateway } from '../support/gateway';
import { DEFAULT_DELETION_DELAY_SECONDS } from '../../src/storage/object-deletions';
import { CountingDriver, md5, uploadFile } from '../support/storage';
import { nextMillisecond, waitFor } from '../support/poll';
import { storageRetentionJob } from '../../src/storage/events/retention';

/** A started gateway on one storage driver (wrapped to count its calls), and a way to see every object it holds. */
export interface StorageHarness {
  gw: TestGateway;
  driver: CountingDriver;
  objectKeys(): Promise<string[]>;
  close(): Promise<void>;
}

type Org = { orgId: string; apiKey: string; keyId: string };

const FILE_FIELDS = 'id name path size contentType md5 etag createdAt updatedAt parent { id path }';

/**
 * The storage contract, run once per driver (test/storage-disk.test.ts, test/storage-gcs.test.ts).
 * Everything goes through real HTTP to a started gateway; bytes go through the real driver.
 */
export function storageContract(driverName: string, start: () => Promise<StorageHarness>): void {
  describe(`storage contract (${driverName} driver)`, () => {
    let h: StorageHarness;
    let gw: TestGateway;
    let org: Org;
    const gql = (query: string, variables: Record<string, unknown> = {}, apiKey = org.apiKey) =>
      graphql(gw.url, query, variables, { apiKey });
    const keysOf = async (orgId: string) => (await h.objectKeys()).filter((k) => k.startsWith(`${orgId}/`));
    const rowsOf = async (orgId: string) =>
      Number(
        (await gw.db.query(`SELECT count(*) AS n FROM storage_entries WHERE organization_id = $1 AND parent_id IS NOT NULL`, [orgId]))[0].n,
      );
    /** Every object the organization's rows (files in and out of the trash, their versions) point at, sorted. */
    const referencedKeys = async (orgId: string): Promise<string[]> =>
      (
        await gw.db.query(
          `SELECT object_key FROM storage_entries WHERE organization_id = $1 AND object_key IS NOT NULL
           UNION SELECT v.object_key FROM storage_file_versions v JOIN storage_entries e ON e.id = v.file_id WHERE e.organization_id = $1`,
          [orgId],
        )
      )
        .map((r: { object_key: string }) => r.object_key)
        .sort();
    const pendingCount = async () => Number((await gw.db.query(`SELECT count(*) AS n FROM storage_pending_objects`))[0].n);
    const download = (id: string, headers: Record<string, string> = {}, apiKey: string | null = org.apiKey) =>
      fetch(`${gw.url}/files/${id}/content`, { headers: { ...(apiKey ? { 'api-key': apiKey } : {}), ...headers } });
    /** A fresh organization per test keeps object counts independent. */
    const freshOrg = () => gw.createOrg();

    beforeAll(async () => {
      h = await start();
      gw = h.gw;
      // Objects go as soon as the deletion job runs (one test below checks the default delay).
      gw.services.storage.deletions.delaySeconds = 0;
      org = await gw.createOrg('Storage Org');
    });
    afterAll(() => h.close());

    it('uploads a file with the api-key header alone, and serves back the same bytes', async () => {
      const bytes = Buffer.from('hello, storage\n');
      const res = await uploadFile(gw.url, org.apiKey, '/docs/notes', 'hello.txt', bytes);
      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      const file = res.body.data.uploadFile;
      expect(file).toMatchObject({ name: 'hello.txt', path: '/docs/notes/hello.txt', size: bytes.length, md5: md5(bytes) });
      expect(file.contentType).toMatch(/^text\/plain/);

      const byPath = await gql(`query($p: String!) { file(path: $p) { ${FILE_FIELDS} } }`, { p: '/docs/notes/hello.txt' });
      expect(byPath.body.data.file).toMatchObject({ id: file.id, etag: file.etag, parent: { path: '/docs/notes' } });
      const folder = await gql(`{ folder(path: "/docs") { id name path parent { path name } } }`);
      expect(folder.body.data.folder).toMatchObject({ name: 'docs', path: '/docs', parent: { path: '/', name: '/' } });

      const content = await download(file.id);
      expect(content.status).toBe(200);
      expect(Buffer.from(await content.arrayBuffer())).toEqual(bytes);
      expect(content.headers.get('etag')).toBe(`"${file.etag}"`);
      expect(content.headers.get('content-type')).toMatch(/^text\/plain/);
    });

    it('guesses the content type from the name when the upload sends none, and keeps the one it sends', async () => {
      const guessed = await uploadFile(gw.url, org.apiKey, '/types', 'pic.png', 'png-ish', { contentType: 'application/octet-stream' });
      expect(guessed.body.data.uploadFile.contentType).toBe('image/png');
      const sent = await uploadFile(gw.url, org.apiKey, '/types', 'data.bin', '{}', { contentType: 'application/json' });
      expect(sent.body.data.uploadFile.contentType).toBe('application/json');
    });

    it('overwrites in place: same id, new etag and bytes; the old content stays as a version (its object, no copy)', async () => {
      const o = await freshOrg();
      const first = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n1,2\n')).body.data.uploadFile;
      const { writes, deletes } = h.driver;
      const second = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n3,4\n5,6\n')).body.data.uploadFile;
      expect(second.id).toBe(first.id);
      expect(second.etag).not.toBe(first.etag);
      expect(second.md5).toBe(md5('a,b\n3,4\n5,6\n'));
      // One object written (the new content), none copied or deleted.
      expect(h.driver.writes - writes).toBe(1);
      expect(h.driver.deletes - deletes).toBe(0);
      const content = await download(first.id, {}, o.apiKey);
      expect(await content.text()).toBe('a,b\n3,4\n5,6\n');
      expect(await keysOf(o.orgId)).toHaveLength(2);
      // Same bytes again still mean a new version.
      const third = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n3,4\n5,6\n')).body.data.uploadFile;
      expect(third.etag).not.toBe(second.etag);
      expect(await keysOf(o.orgId)).toHaveLength(3);
    });

    it('by default keeps a removed object for a while, so downloads in progress can finish', async () => {
      const o = await freshOrg();
      const { deletions } = gw.services.storage;
      deletions.delaySeconds = DEFAULT_DELETION_DELAY_SECONDS;
      try {
        await uploadFile(gw.url, o.apiKey, '/', 'v.txt', 'one');
        await uploadFile(gw.url, o.apiKey, '/', 'v.txt', 'two');
        expect(
          errorCode(await gql(`mutation { deleteEntry(path: "/v.txt", permanent: true) { deletedFiles } }`, {}, o.apiKey)),
        ).toBeUndefined();
      } finally {
        deletions.delaySeconds = 0;
      }
      expect(await keysOf(o.orgId)).toHaveLength(2);
      const [job] = await gw.db.query(
        `SELECT extract(epoch FROM start_after - created_on) AS delay FROM pgboss.job
          WHERE name = 'storage.delete-objects' AND data->'keys'->>0 LIKE $1`,
        [`${o.orgId}/%`],
      );
      expect(Number(job.delay)).toBeGreaterThanOrEqual(DEFAULT_DELETION_DELAY_SECONDS - 1);
    });

    it('accepts exactly MAX_UPLOAD_BYTES and refuses one byte more with 413 FILE_TOO_LARGE, leaving nothing behind', async () => {
      const o = await freshOrg();
      const limit = gw.config.maxUploadBytes;
      expect(limit).toBe(10 * 1024 * 1024);
      const exact = randomBytes(limit);
      const ok = await uploadFile(gw.url, o.apiKey, '/big', 'exact.bin', exact);
      expect(ok.status).toBe(200);
      expect(ok.body.data.uploadFile).toMatchObject({ size: limit, md5: md5(exact) });

      const tooBig = Buffer.concat([exact, Buffer.from([1])]);
      const refused = await uploadFile(gw.url, o.apiKey, '/big', 'over.bin', tooBig);
      expect(refused.status).toBe(413);
      expect(errorCode(refused)).toBe('FILE_TOO_LARGE');
      expect(refused.body.data?.uploadFile ?? null).toBeNull();
      expect((await gql(`{ file(path: "/big/over.bin") { id } }`, {}, o.apiKey)).body.data.file).toBeNull();

      await gw.services.storage.sweepOrphans(0);
      expect(await keysOf(o.orgId)).toHaveLength(1);
      expect(await rowsOf(o.orgId)).toBe(2); // /big and /big/exact.bin
      expect(await pendingCount()).toBe(0);
    });

    it('refuses a multipart request at once when its Content-Length is over the limit', async () => {
      const declared = gw.config.maxUploadBytes * 2;
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${gw.url}/graphql`, {
          method: 'POST',
          headers: { 'api-key': org.apiKey, 'content-type': 'multipart/form-data; boundary=x', 'content-length': declared },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        // Send only a little: the answer must not wait for the rest.
        req.write('--x\r\n');
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).errors[0].extensions.code).toBe('FILE_TOO_LARGE');
    });

    it('keeps exactly one of 20 concurrent uploads to one path, intact, and no orphan after the sweep', async () => {
      const o = await freshOrg();
      const bodies = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`upload ${i}\n`), randomBytes(50_000 + i)]));
      const results = await Promise.all(bodies.map((b) => uploadFile(gw.url, o.apiKey, '/race', 'same.bin', b)));
      for (const r of results) expect(r.body.errors).toBeUndefined();
      expect(new Set(results.map((r) => r.body.data.uploadFile.id)).size).toBe(1);

      const list = await gql(
        `{ folder(path: "/race") { children { totalCount edges { node { id name ... on File { md5 size } } } } } }`,
        {},
        o.apiKey,
      );
      expect(list.body.data.folder.children.totalCount).toBe(1);
      const stored = list.body.data.folder.children.edges[0].node;
      const winner = bodies.find((b) => md5(b) === stored.md5);
      expect(winner).toBeDefined();
      const content = Buffer.from(await (await download(stored.id, {}, o.apiKey)).arrayBuffer());
      expect(content).toEqual(winner);

      // The 19 others are its versions, each with its own object; nothing else is left.
      const versions = await gql(
        `{ file(path: "/race/same.bin") { versions(first: 100) { totalCount edges { node { md5 } } } } }`,
        {},
        o.apiKey,
      );
      expect(versions.body.data.file.versions.totalCount).toBe(20);
      expect(new Set(versions.body.data.file.versions.edges.map((e: any) => e.node.md5))).toEqual(new Set(bodies.map((b) => md5(b))));
      await gw.services.storage.sweepOrphans(0);
      expect((await keysOf(o.orgId)).sort()).toEqual(await referencedKeys(o.orgId));
      expect(await keysOf(o.orgId)).toHaveLength(20);
    });

    it('creates overlapping folder paths from concurrent uploads and createFolder calls in a new organization', async () => {
      const o = await freshOrg();
      const results = await Promise.all([
        ...Array.from({ length: 12 }, (_, i) => uploadFile(gw.url, o.apiKey, `/deep/a/b${i % 3}/c${i % 4}`, `f${i}.txt`, `${i}`)),
        ...Array.from({ length: 6 }, (_, i) =>
          gql(`mutation($p: String!) { createFolder(path: $p) { path } }`, { p: `/deep/a/b${i % 3}/c${i}` }, o.apiKey),
        ),
      ]);
      for (const r of results) expect(r.body.errors).toBeUndefined();
      const tree = await gql(
        `{ folder(path: "/deep/a") { children { totalCount } } root: folder(path: "/") { children { totalCount } } }`,
        {},
        o.apiKey,
      );
      expect(tree.body.data).toEqual({ folder: { children: { totalCount: 3 } }, root: { children: { totalCount: 1 } } });
      // /deep, /deep/a, 3 × b, 12 × (b, c) from the uploads, b1/c4 and b2/c5 from createFolder; 12 files.
      expect(await rowsOf(o.orgId)).toBe(2 + 3 + 12 + 2 + 12);
    });

    it('renames and moves a folder with 1,000 descendants without touching any object', async () => {
      const o = await freshOrg();
      const storage = gw.services.storage;
      // 20 subfolders × 49 files = 1,000 descendants of /projects/alpha.
      const jobs: Array<() => Promise<unknown>> = [];
      for (let f = 0; f < 20; f++) {
        for (let i = 0; i < 49; i++) {
          jobs.push(() =>
            storage.uploads.uploadFile(o.orgId, {
              folder: `/projects/alpha/sub${f}`,
              name: `file${i}.txt`,
              source: Readable.from([`${f}/${i}`]),
            }),
          );
        }
      }
      await runLimited(jobs, 8);
      expect(await rowsOf(o.orgId)).toBe(1 + 1 + 1000);

      const { writes, deletes } = h.driver;
      await gql(`{ folder(path: "/archive") { id } }`, {}, o.apiKey);
      expect(errorCode(await gql(`mutation { createFolder(path: "/archive") { id } }`, {}, o.apiKey))).toBeUndefined();
      const renamed = await gql(`mutation { renameEntry(path: "/projects/alpha", name: "beta") { id path } }`, {}, o.apiKey);
      expect(renamed.body.data.renameEntry.path).toBe('/projects/beta');
      const moved = await gql(`mutation { moveEntry(path: "/projects/beta", to: "/archive") { id path parent { path } } }`, {}, o.apiKey);
      expect(moved.body.data.moveEntry).toMatchObject({
        id: renamed.body.data.renameEntry.id,
        path: '/archive/beta',
        parent: { path: '/archive' },
      });
      expect(h.driver.writes - writes).toBe(0);
      expect(h.driver.deletes - deletes).toBe(0);

      const subfolders = await gql(
        `{ folder(path: "/archive/beta") { children(first: 100) { totalCount edges { node { path } } } } }`,
        {},
        o.apiKey,
      );
      expect(subfolders.body.data.folder.children.totalCount).toBe(20);
      const paths: string[] = [];
      for (const edge of subfolders.body.data.folder.children.edges) {
        paths.push(edge.node.path);
        const files = await gql(
          `query($p: String!) { folder(path: $p) { children(first: 100) { edges { node { path } } } } }`,
          { p: edge.node.path },
          o.apiKey,
        );
        paths.push(...files.body.data.folder.children.edges.map((c: any) => c.node.path));
      }
      const expected: string[] = [];
      for (let f = 0; f < 20; f++) {
        expected.push(`/archive/beta/sub${f}`);
        for (let i = 0; i < 49; i++) expected.push(`/archive/beta/sub${f}/file${i}.txt`);
      }
      expect(paths.sort()).toEqual(expected.sort());
      const one = await gql(`{ file(path: "/archive/beta/sub7/file3.txt") { id } }`, {}, o.apiKey);
      expect(await (await download(one.body.data.file.id, {}, o.apiKey)).text()).toBe('7/3');
      expect((await gql(`{ folder(path: "/projects/alpha") { id } }`, {}, o.apiKey)).body.data.folder).toBeNull();
    });

    it('deletes a folder tree to the trash in one row; permanent: true removes rows at once and objects after the job runs', async () => {
      const o = await freshOrg();
      for (const p of ['/t/a.txt', '/t/x/b.txt', '/t/x/y/c.txt', '/keep.txt', '/gone/d.txt']) {
        const at = p.lastIndexOf('/');
        await uploadFile(gw.url, o.apiKey, p.slice(0, at) || '/', p.slice(at + 1), p);
      }
      await gql(`mutation { createFolder(path: "/t/empty/deeper") { id } }`, {}, o.apiKey);
      expect(await keysOf(o.orgId)).toHaveLength(5);
      const rows = await rowsOf(o.orgId);
      const res = await gql(`mutation { deleteEntry(path: "/t") { deletedFiles deletedFolders } }`, {}, o.apiKey);
      expect(res.body.data.deleteEntry).toEqual({ deletedFiles: 3, deletedFolders: 5 });
      // In the trash: the same rows and objects, one of them marked.
      expect(await rowsOf(o.orgId)).toBe(rows);
      expect(
        Number(
          (
            await gw.db.query(`SELECT count(*) AS n FROM storage_entries WHERE organization_id = $1 AND trashed_at IS NOT NULL`, [o.orgId])
          )[0].n,
        ),
      ).toBe(1);
      expect(await keysOf(o.orgId)).toHaveLength(5);
      expect((await gql(`{ folder(path: "/t") { id } }`, {}, o.apiKey)).body.data.folder).toBeNull();

      const permanent = await gql(`mutation { deleteEntry(path: "/gone", permanent: true) { deletedFiles deletedFolders } }`, {}, o.apiKey);
      expect(permanent.body.data.deleteEntry).toEqual({ deletedFiles: 1, deletedFolders: 1 });
      expect(await rowsOf(o.orgId)).toBe(rows - 2);
      await waitFor(async () => (await keysOf(o.orgId)).length === 4, Boolean, 30_000, 'the removed object to go by the job');

      const file = await gql(`mutation { deleteEntry(path: "/keep.txt", permanent: true) { deletedFiles deletedFolders } }`, {}, o.apiKey);
      expect(file.body.data.deleteEntry).toEqual({ deletedFiles: 1, deletedFolders: 0 });
      await waitFor(async () => (await keysOf(o.orgId)).length === 3, Boolean, 30_000, 'the removed file object to go');
      expect(errorCode(await gql(`mutation { deleteEntry(path: "/keep.txt") { deletedFiles } }`, {}, o.apiKey))).toBe('NOT_FOUND');
      expect(errorCode(await gql(`mutation { deleteEntry(path: "/t", permanent: true) { deletedFiles } }`, {}, o.apiKey))).toBe(
        'NOT_FOUND',
      );
    });

    it('heals a crash between object write and commit with the sweeper', async () => {
      const o = await freshOrg();
      const storage = gw.services.storage;
      // What an upload has done when the process dies before its transaction: pending row, object.
      const key = `${o.orgId}/00000000-0000-4000-8000-000000000001`;
      await gw.db.query(`INSERT INTO storage_pending_objects (object_key) VALUES ($1)`, [key]);
      await storage.driver.write(key, Readable.from(['half a story']), { contentType: 'text/plain', visibleAfter: Promise.resolve() });
      expect(await keysOf(o.orgId)).toEqual([key]);

      expect(await storage.sweepOrphans(3600_000)).toBe(0); // too young: could still be uploading
      expect(await keysOf(o.orgId)).toEqual([key]);
      expect(await storage.sweepOrphans(0)).toBeGreaterThanOrEqual(1);
      expect(await keysOf(o.orgId)).toEqual([]);
      expect(await pendingCount()).toBe(0);
    });

    it('leaves nothing when an upload fails after its object was written, even if the cleanup fails too', async () => {
      const o = await freshOrg();
      await gql(`mutation { createFolder(path: "/clash") { id } }`, {}, o.apiKey);
      const storage = gw.services.storage;
      h.driver.failDeletes = true;
      try {
        const res = await uploadFile(gw.url, o.apiKey, '/', 'clash', 'bytes');
        expect(errorCode(res)).toBe('NAME_CONFLICT');
      } finally {
        h.driver.failDeletes = false;
      }
      expect(await keysOf(o.orgId)).toHaveLength(1); // the orphan
      await storage.sweepOrphans(0);
      expect(await keysOf(o.orgId)).toHaveLength(0);
      expect(await rowsOf(o.orgId)).toBe(1);
    });

    describe('names and paths', () => {
      const invalidNames: Array<[string, string, RegExp]> = [
        ['empty', '', /empty/],
        ['dot', '.', /not allowed/],
        ['dot-dot', '..', /not allowed/],
        ['slash', 'a/b', /contains "\/"/],
        ['NUL', 'a\u0000b', /control character/],
        ['newline', 'a\nb', /control character/],
        ['over 255 bytes', 'é'.repeat(128), /255 bytes/],
      ];

      it.each(invalidNames)('refuses a name that is %s with INVALID_PATH', async (_label, name, message) => {
        const o = await freshOrg();
        const rename = await gql(`mutation($n: String!) { renameEntry(path: "/x", name: $n) { id } }`, { n: name }, o.apiKey);
        expect(errorCode(rename)).toBe('INVALID_PATH');
        expect(rename.body.errors![0].message).toMatch(message);
        const upload = await uploadFile(gw.url, o.apiKey, '/', 'ok.txt', 'x', { name });
        expect(errorCode(upload)).toBe('INVALID_PATH');
        expect(await rowsOf(o.orgId)).toBe(0);
        expect(await keysOf(o.orgId)).toHaveLength(0);
      });

      it.each([
        ['relative', 'docs/a', /absolute/],
        ['empty segment', '/a//b', /empty/],
        ['dot segment', '/a/./b', /not allowed/],
        ['dot-dot segment', '/a/../b', /not allowed/],
        ['control character', '/a/\u0007', /control character/],
        ['over 1024 bytes', '/' + Array.from({ length: 5 }, () => 'x'.repeat(250)).join('/'), /1024 bytes/],
      ])('refuses a path that is %s with INVALID_PATH', async (_label, path, message) => {
        const o = await freshOrg();
        const res = await gql(`mutation($p: String!) { createFolder(path: $p) { id } }`, { p: path }, o.apiKey);
        expect(errorCode(res)).toBe('INVALID_PATH');
        expect(res.body.errors![0].message).toMatch(message);
        expect(await rowsOf(o.orgId)).toBe(0);
        const query = await gql(`query($p: String!) { folder(path: $p) { id } }`, { p: path }, o.apiKey);
        expect(errorCode(query)).toBe('INVALID_PATH');
      });

      it('normalises names to NFC, so both spellings of é are one entry', async () => {
        const o = await freshOrg();
        const composed = 'caf\u00e9';
        const decomposed = 'cafe\u0301';
        const created = await gql(`mutation($p: String!) { createFolder(path: $p) { id name path } }`, { p: `/${decomposed}` }, o.apiKey);
        expect(created.body.data.createFolder).toMatchObject({ name: composed, path: `/${composed}` });
        const again = await gql(`query($p: String!) { folder(path: $p) { id } }`, { p: `/${composed}` }, o.apiKey);
        expect(again.body.data.folder.id).toBe(created.body.data.createFolder.id);
        const unicode = await uploadFile(gw.url, o.apiKey, `/${composed}`, '报告 ✓.txt', 'ok');
        expect(unicode.body.data.uploadFile.path).toBe(`/${composed}/报告 ✓.txt`);
      });

      it('keeps file and folder names apart, and refuses rename or move onto a taken name', async () => {
        const o = await freshOrg();
        await uploadFile(gw.url, o.apiKey, '/n', 'a.txt', 'a');
        await uploadFile(gw.url, o.apiKey, '/n', 'b.txt', 'b');
        await gql(`mutation { createFolder(path: "/n/dir") { id } }`, {}, o.apiKey);
        await gql(`mutation { createFolder(path: "/other/a.txt") { id } }`, {}, o.apiKey);
        expect(errorCode(await gql(`mutation { createFolder(path: "/n/a.txt") { id } }`, {}, o.apiKey))).toBe('NAME_CONFLICT');
        expect(errorCode(await gql(`mutation { createFolder(path: "/n/a.txt/deeper") { id } }`, {}, o.apiKey))).toBe('NAME_CONFLICT');
        expect(errorCode(await uploadFile(gw.url, o.apiKey, '/n', 'dir', 'x'))).toBe('NAME_CONFLICT');
        expect(errorCode(await gql(`mutation { renameEntry(path: "/n/a.txt", name: "b.txt") { id } }`, {}, o.apiKey))).toBe(
          'NAME_CONFLICT',
        );
        expect(errorCode(await gql(`mutation { renameEntry(path: "/n/a.txt", name: "dir") { id } }`, {}, o.apiKey))).toBe('NAME_CONFLICT');
        expect(errorCode(await gql(`mutation { moveEntry(path: "/other/a.txt", to: "/n") { id } }`, {}, o.apiKey))).toBe('NAME_CONFLICT');
        // Nothing changed.
        const a = await gql(`{ file(path: "/n/a.txt") { md5 } folder(path: "/other/a.txt") { path } }`, {}, o.apiKey);
        expect(a.body.data).toEqual({ file: { md5: md5('a') }, folder: { path: '/other/a.txt' } });
        // An existing folder is returned as is.
        const f1 = await gql(`mutation { createFolder(path: "/n/dir") { id } }`, {}, o.apiKey);
        const f2 = await gql(`{ folder(path: "/n/dir/") { id } }`, {}, o.apiKey);
        expect(f1.body.data.createFolder.id).toBe(f2.body.data.folder.id);
      });

      it('refuses moving a folder into itself or a descendant, and touching the root', async () => {
        const o = await freshOrg();
        await gql(`mutation { createFolder(path: "/m/inner/deep") { id } }`, {}, o.apiKey);
        await uploadFile(gw.url, o.apiKey, '/m', 'f.txt', 'f');
        for (const to of ['/m', '/m/inner', '/m/inner/deep']) {
          const res = await gql(`mutation($to: String!) { moveEntry(path: "/m", to: $to) { id } }`, { to }, o.apiKey);
          expect(errorCode(res)).toBe('INVALID_MOVE');
        }
        expect(errorCode(await gql(`mutation { moveEntry(path: "/m/inner", to: "/m/f.txt") { id } }`, {}, o.apiKey))).toBe('INVALID_MOVE');
        expect(errorCode(await gql(`mutation { moveEntry(path: "/m/inner", to: "/nowhere") { id } }`, {}, o.apiKey))).toBe('NOT_FOUND');
        for (const mutation of [
          `renameEntry(path: "/", name: "x") { id }`,
          `moveEntry(path: "/", to: "/m") { id }`,
          `deleteEntry(path: "/") { deletedFiles }`,
        ]) {
          const res = await gql(`mutation { ${mutation} }`, {}, o.apiKey);
          expect(errorCode(res)).toBe('INVALID_PATH');
          expect(res.body.errors![0].message).toMatch(/root folder/);
        }
        const moved = await gql(`mutation { moveEntry(path: "/m/inner/deep", to: "/") { path } }`, {}, o.apiKey);
        expect(moved.body.data.moveEntry.path).toBe('/deep');
        const tree = await gql(`{ folder(path: "/m") { children { edges { node { path } } } } }`, {}, o.apiKey);
        expect(tree.body.data.folder.children.edges.map((e: any) => e.node.path)).toEqual(['/m/inner', '/m/f.txt']);
      });
    });

    describe('content route and download URLs', () => {
      let file: { id: string; etag: string; name: string };
      const bytes = Buffer.from('0123456789abcdefghij');

      beforeAll(async () => {
        const res = await uploadFile(gw.url, org.apiKey, '/dl', 'Résumé – final.txt', bytes, { select: 'id etag name' });
        file = res.body.data.uploadFile;
      });

      it('serves byte ranges with 206', async () => {
        const res = await download(file.id, { range: 'bytes=2-5' });
        expect(res.status).toBe(206);
        expect(res.headers.get('content-range')).toBe(`bytes 2-5/${bytes.length}`);
        expect(await res.text()).toBe('2345');
        const suffix = await download(file.id, { range: 'bytes=-3' });
        expect(suffix.status).toBe(206);
        expect(await suffix.text()).toBe('hij');
        const open = await download(file.id, { range: 'bytes=15-' });
        expect(await open.text()).toBe('fghij');
        // Several ranges (no multipart/byteranges here) and malformed ones get the whole body.
        for (const range of ['bytes=0-1,5-6', 'bytes=x-y', 'lines=1-2']) {
          const whole = await download(file.id, { range });
          expect(whole.status).toBe(200);
          expect(Buffer.from(await whole.arrayBuffer())).toEqual(bytes);
        }
        const bad = await download(file.id, { range: 'bytes=100-200' });
        expect(bad.status).toBe(416);
        expect(bad.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
      });

      it('stores and serves an empty file', async () => {
        const empty = (await uploadFile(gw.url, org.apiKey, '/dl', 'empty.txt', Buffer.alloc(0))).body.data.uploadFile;
        expect(empty).toMatchObject({ size: 0, md5: md5('') });
        const res = await download(empty.id);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-length')).toBe('0');
        expect(await res.text()).toBe('');
        expect((await download(empty.id, { range: 'bytes=0-' })).status).toBe(416);
      });

      it('answers a JSON 500 without details when the object is missing from the backend', async () => {
        const lost = (await uploadFile(gw.url, org.apiKey, '/dl', 'lost.txt', 'soon gone')).body.data.uploadFile;
        const [{ object_key }] = await gw.db.query(`SELECT object_key FROM storage_entries WHERE id = $1`, [lost.id]);
        await gw.services.storage.driver.delete(object_key);
        const res = await download(lost.id);
        expect(res.status).toBe(500);
        expect(await res.json()).toEqual({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      });

      it('answers HEAD with the headers only', async () => {
        const res = await fetch(`${gw.url}/files/${file.id}/content`, { method: 'HEAD', headers: { 'api-key': org.apiKey } });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-length')).toBe(String(bytes.length));
        expect(await res.text()).toBe('');
      });

      it('answers 304 to a matching If-None-Match or a later If-Modified-Since, and 200 otherwise', async () => {
        // As a browser revalidates (fetch() would add Cache-Control: no-cache, an end-to-end reload).
        const conditional = (headers: Record<string, string>) =>
          new Promise<number>((resolve, reject) => {
            http
              .get(`${gw.url}/files/${file.id}/content`, { headers: { 'api-key': org.apiKey, ...headers } }, (res) => {
                res.resume();
                resolve(res.statusCode!);
              })
              .on('error', reject);
          });
        const etag = `"${file.etag}"`;
        expect(await conditional({ 'if-none-match': etag })).toBe(304);
        expect(await conditional({ 'if-none-match': `W/${etag}, "other"` })).toBe(304);
        expect(await conditional({ 'if-none-match': '"something-else"' })).toBe(200);
        expect(await conditional({ 'if-none-match': etag, 'cache-control': 'no-cache' })).toBe(200);
        expect(await conditional({ 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() })).toBe(304);
        expect(await conditional({ 'if-modified-since': new Date(0).toUTCString() })).toBe(200);
      });

      it('serves the whole body when If-Range names another version', async () => {
        const other = await download(file.id, { range: 'bytes=0-1', 'if-range': '"old-version"' });
        expect(other.status).toBe(200);
        expect(Buffer.from(await other.arrayBuffer())).toEqual(bytes);
        const same = await download(file.id, { range: 'bytes=0-1', 'if-range': `"${file.etag}"` });
        expect(same.status).toBe(206);
        expect(await same.text()).toBe('01');
      });

      it('names the file in Content-Disposition, RFC 5987-encoded', async () => {
        const res = await download(file.id);
        const disposition = res.headers.get('content-disposition')!;
        expect(disposition).toContain(`filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%20final.txt`);
        // The ASCII fallback for clients that do not read filename*.
        expect(disposition).toMatch(/^attachment; filename="R\?sum\? \? final.txt"/);
      });

      it('gives a downloadUrl that works without the api-key', async () => {
        const res = await gql(`query($id: ID!) { node(id: $id) { ... on File { downloadUrl(expiresIn: 60) } } }`, { id: file.id });
        const url: string = res.body.data.node.downloadUrl;
        const content = await fetch(url);
        expect(content.status).toBe(200);
        expect(Buffer.from(await content.arrayBuffer())).toEqual(bytes);
        if (driverName === 'gcs') expect(url).toMatch(/X-Goog-Signature=/);
        else expect(url).toMatch(new RegExp(`^${gw.url}/files/${file.id}/content\\?expires=\\d+&signature=`));
      });

      it('refuses bad expiresIn values', async () => {
        for (const expiresIn of [0, -5, 8 * 24 * 3600]) {
          const res = await gql(`query($id: ID!, $e: Int) { node(id: $id) { ... on File { downloadUrl(expiresIn: $e) } } }`, {
            id: file.id,
            e: expiresIn,
          });
          expect(errorCode(res)).toBe('BAD_USER_INPUT');
        }
      });

      it('refuses the content route without a key or with a tampered or expired signature', async () => {
        expect((await download(file.id, {}, null)).status).toBe(401);
        const signed = await gw.services.storage.downloads.downloadUrl(
          { id: file.id, objectKey: 'x', name: 'x', contentType: 'text/plain' },
          gw.url,
          60,
        );
        if (driverName !== 'gcs') {
          const tampered = signed.replace(/signature=./, (s) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A'));
          expect((await fetch(tampered)).status).toBe(403);
          const otherFile = signed.replace(file.id, '00000000-0000-4000-8000-000000000000');
          expect((await fetch(otherFile)).status).toBe(403);
          const longer = signed.replace(/expires=(\d+)/, (_m, e) => `expires=${Number(e) + 1000}`);
          expect((await fetch(longer)).status).toBe(403);
        }
        const { expires, signature } = await (gw.services.storage.downloads as any).signer.sign(file.id, new Date(Date.now() - 1000));
        expect((await fetch(`${gw.url}/files/${file.id}/content?expires=${expires}&signature=${signature}`)).status).toBe(403);
      });
    });

    describe('versions', () => {
      const VERSIONS = `query($p: String!, $after: String) { file(path: $p) { id etag md5 versions(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id size contentType md5 etag createdAt current downloadUrl(expiresIn: 60) } } } } }`;
      /** Every version of the file at `path`, newest first, read two per page. */
      const allVersions = async (apiKey: string, path: string) => {
        const seen: any[] = [];
        let after: string | null = null;
        let total: number;
        for (;;) {
          const res = await gql(VERSIONS, { p: path, after }, apiKey);
          expect(res.body.errors).toBeUndefined();
          const page = res.body.data.file.versions;
          total = page.totalCount;
          seen.push(...page.edges.map((e: any) => e.node));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
        }
        expect(seen).toHaveLength(total);
        return seen;
      };
      const RESTORE = `mutation($p: String!, $v: ID!) { restoreFileVersion(path: $p, versionId: $v) { id etag md5 size } }`;

      it('keeps each overwrite as a version: lists, downloads and restores each one byte for byte', async () => {
        const o = await freshOrg();
        const contents = ['first draft\n', randomBytes(3000), 'third, final\n'].map((c) => Buffer.from(c));
        const uploaded = [];
        for (const c of contents) uploaded.push((await uploadFile(gw.url, o.apiKey, '/docs', 'plan.txt', c)).body.data.uploadFile);
        expect(new Set(uploaded.map((u) => u.id)).size).toBe(1);
        const id = uploaded[0].id;

        const versions = await allVersions(o.apiKey, '/docs/plan.txt');
        expect(versions.map((v) => v.md5)).toEqual(contents.map((c) => md5(c)).reverse());
        expect(versions.map((v) => v.etag)).toEqual(uploaded.map((u) => u.etag).reverse());
        expect(versions.map((v) => v.id)).toEqual(versions.map((v) => v.etag));
        expect(versions.map((v) => v.current)).toEqual([true, false, false]);
        expect(versions.map((v) => v.size)).toEqual(contents.map((c) => c.length).reverse());
        const times = versions.map((v) => Date.parse(v.createdAt));
        expect([...times].sort((a, b) => b - a)).toEqual(times);

        // Each version's bytes: by its downloadUrl (no key), and with the key by ?etag=.
        for (const [i, v] of versions.entries()) {
          const expected = contents[contents.length - 1 - i];
          expect(Buffer.from(await (await fetch(v.downloadUrl)).arrayBuffer())).toEqual(expected);
          const keyed = await fetch(`${gw.url}/files/${id}/content?etag=${v.id}`, { headers: { 'api-key': o.apiKey } });
          expect(keyed.status).toBe(200);
          expect(keyed.headers.get('etag')).toBe(`"${v.etag}"`);
          expect(Buffer.from(await keyed.arrayBuffer())).toEqual(expected);
        }

        // Restore each old version in turn: it becomes current as a new version, nothing is lost.
        const { writes, deletes } = h.driver;
        let count = 3;
        for (const [i, v] of versions.slice(1).entries()) {
          const restored = await gql(RESTORE, { p: '/docs/plan.txt', v: v.id }, o.apiKey);
          expect(restored.body.errors).toBeUndefined();
          const expected = contents[contents.length - 2 - i];
          expect(restored.body.data.restoreFileVersion).toMatchObject({ id, md5: md5(expected), size: expected.length });
          expect(restored.body.data.restoreFileVersion.etag).not.toBe(v.etag);
          expect(Buffer.from(await (await download(id, {}, o.apiKey)).arrayBuffer())).toEqual(expected);
          const after = await allVersions(o.apiKey, '/docs/plan.txt');
          expect(after).toHaveLength(++count);
          expect(after[0]).toMatchObject({ current: true, md5: md5(expected), etag: restored.body.data.restoreFileVersion.etag });
        }
        // Restoring shares the version's object: nothing written, copied or deleted.
        expect(h.driver.writes - writes).toBe(0);
        expect(h.driver.deletes - deletes).toBe(0);
        expect(await keysOf(o.orgId)).toHaveLength(3);
      });

      it("refuses a version that is not the file's with NOT_FOUND, changing nothing", async () => {
        const o = await freshOrg();
        await uploadFile(gw.url, o.apiKey, '/', 'a.txt', 'a1');
        const a2 = (await uploadFile(gw.url, o.apiKey, '/', 'a.txt', 'a2')).body.data.uploadFile;
        const b = (await uploadFile(gw.url, o.apiKey, '/', 'b.txt', 'b1')).body.data.uploadFile;
        for (const [path, versionId] of [
          ['/a.txt', b.etag],
          ['/a.txt', 'not-a-version'],
          ['/a.txt', '\u0000'],
          ['/nothing.txt', a2.etag],
          ['/', a2.etag],
        ]) {
          const res = await gql(RESTORE, { p: path, v: versionId }, o.apiKey);
          expect(errorCode(res)).toBe('NOT_FOUND');
        }
        const now = await gql(`{ file(path: "/a.txt") { etag versions { totalCount } } }`, {}, o.apiKey);
        expect(now.body.data.file).toEqual({ etag: a2.etag, versions: { totalCount: 2 } });
        const wrong = await fetch(`${gw.url}/files/${a2.id}/content?etag=${b.etag}`, { headers: { 'api-key': o.apiKey } });
        expect(wrong.status).toBe(404);
      });

      it('expires versions beyond FILE_VERSIONS_KEEP older than FILE_VERSION_DAYS, their objects by the job, a shared one kept', async () => {
        const o = await freshOrg();
        const { versions } = gw.services.storage;
        for (let i = 1; i <= 5; i++) await uploadFile(gw.url, o.apiKey, '/', 'log.txt', `v${i}`);
        const listed = await allVersions(o.apiKey, '/log.txt'); // v5 (current) … v1
        // v1 current again (as v6), sharing v1's object.
        expect((await gql(RESTORE, { p: '/log.txt', v: listed[4].id }, o.apiKey)).body.errors).toBeUndefined();
        await gw.db.query(
          `UPDATE storage_file_versions SET created_at = created_at - interval '40 days'
            WHERE file_id = (SELECT id FROM storage_entries WHERE organization_id = $1 AND name = 'log.txt')`,
          [o.orgId],
        );
        const keep = versions.keep;
        versions.keep = 3;
        try {
          expect(await gw.services.storage.expire()).toMatchObject({ versionFiles: 1 });
        } finally {
          versions.keep = keep;
        }
        const left = await allVersions(o.apiKey, '/log.txt');
        expect(left.map((v) => v.md5)).toEqual(['v1', 'v5', 'v4'].map((c) => md5(c)));
        // v1's object is still current; v3's and v2's go; nothing else is left over.
        await waitFor(async () => (await keysOf(o.orgId)).length === 3, Boolean, 30_000, 'expired version objects to go');
        expect((await keysOf(o.orgId)).sort()).toEqual(await referencedKeys(o.orgId));
        const logId = (await gql(`{ file(path: "/log.txt") { id } }`, {}, o.apiKey)).body.data.file.id;
        expect(await (await download(logId, {}, o.apiKey)).text()).toBe('v1');
        // Young versions are kept whatever their number.
        for (let i = 0; i < 4; i++) await uploadFile(gw.url, o.apiKey, '/', 'log.txt', `again ${i}`);
        versions.keep = 1;
        try {
          await gw.services.storage.expire();
        } finally {
          versions.keep = keep;
        }
        expect(await allVersions(o.apiKey, '/log.txt')).toHaveLength(5);
      });
    });

    describe('the trash', () => {
      const TRASH = `query($after: String) { trash(first: 20, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { originalPath deletedAt expiresAt entry { __typename id name path ... on Folder { children(first: 0) { totalCount } } } } } } }`;
      const RESTORE = `mutation($id: ID!, $to: String) { restoreEntry(id: $id, to: $to) { __typename id name path } }`;
      const trashOf = async (apiKey: string) => (await gql(TRASH, {}, apiKey)).body.data.trash;

      it('trashes a folder of 1,000 files in one row, hides everything in it, and restores it with ids, versions and content', async () => {
        const o = await freshOrg();
        const storage = gw.services.storage;
        const jobs: Array<() => Promise<unknown>> = [];
        for (let f = 0; f < 10; f++) {
          for (let i = 0; i < 100; i++) {
            jobs.push(() =>
              storage.uploads.uploadFile(o.orgId, { folder: `/kb/sub${f}`, name: `file${i}.txt`, source: Readable.from([`${f}/${i}`]) }),
            );
          }
        }
        await runLimited(jobs, 8);
        await uploadFile(gw.url, o.apiKey, '/kb/sub3', 'file7.txt', 'newer 3/7');
        await uploadFile(gw.url, o.apiKey, '/kb', 'readme.txt', 'read me');
        const before = await gw.db.query(
          `SELECT id, parent_id, name, object_key, etag FROM storage_entries WHERE organization_id = $1 ORDER BY id`,
          [o.orgId],
        );
        const file = (
          await gql(`{ file(path: "/kb/sub3/file7.txt") { id downloadUrl(expiresIn: 60) } kb: folder(path: "/kb") { id } }`, {}, o.apiKey)
        ).body.data;

        const { writes, deletes } = h.driver;
        const deleted = await gql(`mutation { deleteEntry(path: "/kb") { deletedFiles deletedFolders } }`, {}, o.apiKey);
        expect(deleted.body.data.deleteEntry).toEqual({ deletedFiles: 1001, deletedFolders: 11 });
        expect(h.driver.writes - writes).toBe(0);
        expect(h.driver.deletes - deletes).toBe(0);

        // Not listed, found, counted or downloadable, by path or by id.
        const gone = await gql(
          `query($f: ID!, $k: ID!) { a: folder(path: "/kb") { id } b: file(path: "/kb/sub3/file7.txt") { id } c: folder(path: "/kb/sub3") { id }
             n: node(id: $f) { id } m: node(id: $k) { id } root: folder(path: "/") { children { totalCount } } }`,
          { f: file.file.id, k: file.kb.id },
          o.apiKey,
        );
        expect(gone.body.data).toEqual({ a: null, b: null, c: null, n: null, m: null, root: { children: { totalCount: 0 } } });
        expect((await download(file.file.id, {}, o.apiKey)).status).toBe(404);
        if (driverName !== 'gcs') expect((await fetch(file.file.downloadUrl)).status).toBe(404);
        expect(errorCode(await gql(`mutation { renameEntry(path: "/kb/sub3", name: "x") { id } }`, {}, o.apiKey))).toBe('NOT_FOUND');

        // One item holding its tree, readable but not downloadable.
        const trash = await trashOf(o.apiKey);
        expect(trash.totalCount).toBe(1);
        const item = trash.edges[0].node;
        expect(item).toMatchObject({
          originalPath: '/kb',
          entry: { __typename: 'Folder', id: file.kb.id, path: '/kb', children: { totalCount: 11 } },
        });
        expect(Date.parse(item.expiresAt) - Date.parse(item.deletedAt)).toBe(30 * 24 * 3600 * 1000);
        const listed = `{ trash(first: 1) { edges { node { entry { ... on Folder {
          children(first: 1, kind: FILE) { totalCount edges { node { ... on File { path FIELD } } } } } } } } } }`;
        const readme = await gql(listed.replace('FIELD', 'md5 versions { totalCount }'), {}, o.apiKey);
        expect(readme.body.data.trash.edges[0].node.entry.children).toEqual({
          totalCount: 1,
          edges: [{ node: { path: '/kb/readme.txt', md5: md5('read me'), versions: { totalCount: 1 } } }],
        });
        const url = await gql(listed.replace('FIELD', 'downloadUrl'), {}, o.apiKey);
        expect(errorCode(url)).toBe('NOT_FOUND');
        expect(url.body.errors![0].message).toMatch(/in the trash/);

        const restored = await gql(RESTORE, { id: file.kb.id }, o.apiKey);
        expect(restored.body.data.restoreEntry).toEqual({ __typename: 'Folder', id: file.kb.id, name: 'kb', path: '/kb' });
        expect(h.driver.writes - writes).toBe(0);
        expect(h.driver.deletes - deletes).toBe(0);
        const after = await gw.db.query(
          `SELECT id, parent_id, name, object_key, etag FROM storage_entries WHERE organization_id = $1 ORDER BY id`,
          [o.orgId],
        );
        expect(after).toEqual(before);
        const back = await gql(`{ file(path: "/kb/sub3/file7.txt") { id versions { totalCount edges { node { md5 } } } } }`, {}, o.apiKey);
        expect(back.body.data.file.id).toBe(file.file.id);
        expect(back.body.data.file.versions.edges.map((e: any) => e.node.md5)).toEqual([md5('newer 3/7'), md5('3/7')]);
        expect(await (await download(file.file.id, {}, o.apiKey)).text()).toBe('newer 3/7');
        expect(await (await download(file.file.id, {}, o.apiKey)).status).toBe(200);
        expect((await trashOf(o.apiKey)).totalCount).toBe(0);
      });

      it('frees the name; a restore onto a taken name is NAME_CONFLICT, and under `to` takes a numbered name', async () => {
        const o = await freshOrg();
        const first = (await uploadFile(gw.url, o.apiKey, '/notes', 'idea.txt', 'old idea')).body.data.uploadFile;
        await gql(`mutation { deleteEntry(path: "/notes/idea.txt") { deletedFiles } }`, {}, o.apiKey);
        const second = (await uploadFile(gw.url, o.apiKey, '/notes', 'idea.txt', 'new idea')).body.data.uploadFile;
        expect(second.id).not.toBe(first.id);
        expect(
          (await gql(`{ file(path: "/notes/idea.txt") { versions { totalCount } } }`, {}, o.apiKey)).body.data.file.versions.totalCount,
        ).toBe(1);

        const conflict = await gql(RESTORE, { id: first.id }, o.apiKey);
        expect(errorCode(conflict)).toBe('NAME_CONFLICT');
        expect(conflict.body.errors![0].message).toMatch(/\/notes\/idea\.txt/);
        expect((await trashOf(o.apiKey)).totalCount).toBe(1);

        const elsewhere = await gql(RESTORE, { id: first.id, to: '/notes' }, o.apiKey);
        expect(elsewhere.body.data.restoreEntry).toEqual({
          __typename: 'File',
          id: first.id,
          name: 'idea (1).txt',
          path: '/notes/idea (1).txt',
        });
        expect(await (await download(first.id, {}, o.apiKey)).text()).toBe('old idea');
        expect(await (await download(second.id, {}, o.apiKey)).text()).toBe('new idea');

        // Where it was no longer exists: the folders are made again (new ids), or `to` is made.
        await gql(`mutation { deleteEntry(path: "/notes/idea (1).txt") { deletedFiles } }`, {}, o.apiKey);
        await gql(`mutation { deleteEntry(path: "/notes", permanent: true) { deletedFiles } }`, {}, o.apiKey);
        const recreated = await gql(RESTORE, { id: first.id }, o.apiKey);
        expect(recreated.body.data.restoreEntry.path).toBe('/notes/idea (1).txt');
        await gql(`mutation { deleteEntry(path: "/notes/idea (1).txt") { deletedFiles } }`, {}, o.apiKey);
        const made = await gql(RESTORE, { id: first.id, to: '/a/b' }, o.apiKey);
        expect(made.body.data.restoreEntry.path).toBe('/a/b/idea (1).txt');
      });

      it('refuses what is not a trash item, and a bad `to`, with nothing changed', async () => {
        const o = await freshOrg();
        const live = (await uploadFile(gw.url, o.apiKey, '/x', 'live.txt', 'live')).body.data.uploadFile;
        await uploadFile(gw.url, o.apiKey, '/x/inner', 'deep.txt', 'deep');
        const deep = (await gql(`{ file(path: "/x/inner/deep.txt") { id } }`, {}, o.apiKey)).body.data.file;
        const folder = (await gql(`{ folder(path: "/x/inner") { id } }`, {}, o.apiKey)).body.data.folder;
        await gql(`mutation { deleteEntry(path: "/x/inner") { deletedFiles } }`, {}, o.apiKey);
        await gql(`mutation { createFolder(path: "/file-here") { id } }`, {}, o.apiKey);
        await uploadFile(gw.url, o.apiKey, '/', 'plain.txt', 'p');
        const rows = await rowsOf(o.orgId);
        for (const [id, code] of [
          [live.id, 'NOT_FOUND'], // live, not in the trash
          [deep.id, 'NOT_FOUND'], // inside a trash item, not one itself
          ['not-an-id', 'NOT_FOUND'],
          ['00000000-0000-4000-8000-000000000000', 'NOT_FOUND'],
        ]) {
          expect(errorCode(await gql(RESTORE, { id }, o.apiKey))).toBe(code);
        }
        expect(errorCode(await gql(RESTORE, { id: folder.id, to: 'relative/path' }, o.apiKey))).toBe('INVALID_PATH');
        expect(errorCode(await gql(RESTORE, { id: folder.id, to: '/plain.txt/below' }, o.apiKey))).toBe('NAME_CONFLICT');
        expect(await rowsOf(o.orgId)).toBe(rows);
        expect((await trashOf(o.apiKey)).totalCount).toBe(1);
        expect(errorCode(await gql(`mutation { deleteEntry(path: "/") { deletedFiles } }`, {}, o.apiKey))).toBe('INVALID_PATH');
        expect(errorCode(await gql(`mutation { deleteEntry(path: "/", permanent: true) { deletedFiles } }`, {}, o.apiKey))).toBe(
          'INVALID_PATH',
        );
      });

      it('lists items newest first, pages them, and emptyTrash removes them for good: rows at once, bytes by the job, nothing orphaned', async () => {
        const o = await freshOrg();
        for (const name of ['one', 'two', 'three']) {
          await uploadFile(gw.url, o.apiKey, `/${name}`, `${name}.txt`, name);
          await uploadFile(gw.url, o.apiKey, `/${name}`, `${name}.txt`, `${name} again`);
        }
        await uploadFile(gw.url, o.apiKey, '/two', 'early.txt', 'trashed on its own first');
        await gql(`mutation { deleteEntry(path: "/two/early.txt") { deletedFiles } }`, {}, o.apiKey);
        for (const name of ['one', 'two', 'three']) {
          await nextMillisecond();
          await gql(`mutation($p: String!) { deleteEntry(path: $p) { deletedFiles } }`, { p: `/${name}` }, o.apiKey);
        }
        const all = await trashOf(o.apiKey);
        expect(all.edges.map((e: any) => e.node.originalPath)).toEqual(['/three', '/two', '/one', '/two/early.txt']);
        const firstPage = (await gql(TRASH.replace('first: 20', 'first: 2'), {}, o.apiKey)).body.data.trash;
        const secondPage = (await gql(TRASH.replace('first: 20', 'first: 2'), { after: firstPage.pageInfo.endCursor }, o.apiKey)).body.data
          .trash;
        expect([...firstPage.edges, ...secondPage.edges].map((e: any) => e.node.originalPath)).toEqual(
          all.edges.map((e: any) => e.node.originalPath),
        );
        expect(secondPage.pageInfo.hasNextPage).toBe(false);
        expect(await keysOf(o.orgId)).toHaveLength(7);

        const emptied = await gql(`mutation { emptyTrash { deletedFiles deletedFolders } }`, {}, o.apiKey);
        expect(emptied.body.data.emptyTrash).toEqual({ deletedFiles: 4, deletedFolders: 3 });
        expect(await rowsOf(o.orgId)).toBe(0);
        expect((await trashOf(o.apiKey)).totalCount).toBe(0);
        await waitFor(async () => (await keysOf(o.orgId)).length === 0, Boolean, 30_000, 'the trash objects to go by the job');
        expect((await gql(`mutation { emptyTrash { deletedFiles deletedFolders } }`, {}, o.apiKey)).body.data.emptyTrash).toEqual({
          deletedFiles: 0,
          deletedFolders: 0,
        });
      });

      it('never removes what a concurrent restore brought back: restoreEntry against emptyTrash, each wins whole', async () => {
        const o = await freshOrg();
        for (let round = 0; round < 5; round++) {
          const up = (await uploadFile(gw.url, o.apiKey, `/race${round}/inner`, 'f.txt', `round ${round}`)).body.data.uploadFile;
          const folder = (await gql(`query($p: String!) { folder(path: $p) { id } }`, { p: `/race${round}` }, o.apiKey)).body.data.folder;
          await gql(`mutation($p: String!) { deleteEntry(path: $p) { deletedFiles } }`, { p: `/race${round}` }, o.apiKey);
          const [restored, emptied] = await Promise.all([
            gql(RESTORE, { id: folder.id }, o.apiKey),
            gql(`mutation { emptyTrash { deletedFiles deletedFolders } }`, {}, o.apiKey),
          ]);
          expect(emptied.body.errors).toBeUndefined();
          if (restored.body.errors) {
            // The trash was emptied first: gone for good.
            expect(errorCode(restored)).toBe('NOT_FOUND');
            expect(emptied.body.data.emptyTrash).toEqual({ deletedFiles: 1, deletedFolders: 2 });
            expect((await download(up.id, {}, o.apiKey)).status).toBe(404);
          } else {
            // Restored first: whole, and nothing of it removed.
            expect(emptied.body.data.emptyTrash).toEqual({ deletedFiles: 0, deletedFolders: 0 });
            expect(await (await download(up.id, {}, o.apiKey)).text()).toBe(`round ${round}`);
          }
        }
        await waitFor(
          async () => JSON.stringify((await keysOf(o.orgId)).sort()) === JSON.stringify(await referencedKeys(o.orgId)),
          Boolean,
          30_000,
          'the objects to match the rows',
        );
      });

      it('expires items after TRASH_RETENTION_DAYS by itself; an item trashed on its own inside one outlives it and restores by its path', async () => {
        const o = await freshOrg();
        await uploadFile(gw.url, o.apiKey, '/old/sub', 'kept.txt', 'kept');
        await uploadFile(gw.url, o.apiKey, '/old', 'a.txt', 'a');
        await uploadFile(gw.url, o.apiKey, '/old', 'a.txt', 'a2');
        const kept = (await gql(`{ file(path: "/old/sub/kept.txt") { id } }`, {}, o.apiKey)).body.data.file;
        await gql(`mutation { deleteEntry(path: "/old/sub/kept.txt") { deletedFiles } }`, {}, o.apiKey);
        await gql(`mutation { deleteEntry(path: "/old") { deletedFiles } }`, {}, o.apiKey);
        await gw.db.query(
          `UPDATE storage_entries SET trashed_at = trashed_at - interval '31 days' WHERE organization_id = $1 AND trashed_path = '/old'`,
          [o.orgId],
        );
        // The periodic retention job (sent here instead of waiting for its period) purges it.
        await storageRetentionJob.send(gw.services.queue, {});
        await waitFor(
          async () => (await trashOf(o.apiKey)).totalCount === 1,
          Boolean,
          30_000,
          'the retention job to purge the expired item',
        );
        const trash = await trashOf(o.apiKey);
        expect(trash.edges.map((e: any) => e.node.originalPath)).toEqual(['/old/sub/kept.txt']);
        await waitFor(async () => (await keysOf(o.orgId)).length === 1, Boolean, 30_000, 'expired objects to go by the job');
        expect((await keysOf(o.orgId)).sort()).toEqual(await referencedKeys(o.orgId));

        const restored = await gql(RESTORE, { id: kept.id }, o.apiKey);
        expect(restored.body.data.restoreEntry).toMatchObject({ id: kept.id, path: '/old/sub/kept.txt' });
        expect(await (await download(kept.id, {}, o.apiKey)).text()).toBe('kept');

        // TRASH_RETENTION_DAYS=0 keeps the trash until it is emptied: no expiry date, nothing expires.
        const bin = gw.services.storage.trash;
        await gql(`mutation { deleteEntry(path: "/old") { deletedFiles } }`, {}, o.apiKey);
        await gw.db.query(`UPDATE storage_entries SET trashed_at = trashed_at - interval '400 days' WHERE organization_id = $1`, [o.orgId]);
        const days = bin.retentionDays;
        bin.retentionDays = 0;
        try {
          expect((await trashOf(o.apiKey)).edges.map((e: any) => e.node.expiresAt)).toEqual([null]);
          expect(await bin.expire()).toBe(0);
        } finally {
          bin.retentionDays = days;
        }
        expect((await trashOf(o.apiKey)).totalCount).toBe(1);
      });
    });

    describe('a second organization', () => {
      it('sees none of the first one: every path and id reads as null or NOT_FOUND', async () => {
        const a = await freshOrg();
        const b = await freshOrg();
        const up = (await uploadFile(gw.url, a.apiKey, '/secret/plans', 'plan.txt', 'top secret')).body.data.uploadFile;
        const folder = (await gql(`{ folder(path: "/secret") { id } root: folder(path: "/") { id } }`, {}, a.apiKey)).body.data;

        const reads = await gql(
          `query($f: ID!, $d: ID!, $r: ID!) {
             file(path: "/secret/plans/plan.txt") { id }
             folder(path: "/secret") { id }
             nf: node(id: $f) { id } nd: node(id: $d) { id } nr: node(id: $r) { id }
             root: folder(path: "/") { id children { totalCount } }
           }`,
          { f: up.id, d: folder.folder.id, r: folder.root.id },
          b.apiKey,
        );
        expect(reads.body.errors).toBeUndefined();
        expect(reads.body.data).toMatchObject({
          file: null,
          folder: null,
          nf: null,
          nd: null,
          nr: null,
          root: { children: { totalCount: 0 } },
        });
        expect(reads.body.data.root.id).not.toBe(folder.root.id);

        for (const mutation of [
          `renameEntry(path: "/secret", name: "mine") { id }`,
          `moveEntry(path: "/secret/plans", to: "/") { id }`,
          `deleteEntry(path: "/secret") { deletedFiles }`,
        ]) {
          expect(errorCode(await gql(`mutation { ${mutation} }`, {}, b.apiKey))).toBe('NOT_FOUND');
        }
        const content = await download(up.id, {}, b.apiKey);
        expect(content.status).toBe(404);
        // B's own tree is separate: the same path is free for it.
        const own = await uploadFile(gw.url, b.apiKey, '/secret/plans', 'plan.txt', 'mine');
        expect(own.body.data.uploadFile.id).not.toBe(up.id);
        expect(await (await download(up.id, {}, a.apiKey)).text()).toBe('top secret');
      });
    });

    describe('a second organization and the trash and versions', () => {
      it("cannot list, restore, empty or download another's trash, nor restore or download another's versions", async () => {
        const a = await freshOrg();
        const b = await freshOrg();
        await uploadFile(gw.url, a.apiKey, '/plans', 'plan.txt', 'v1 secret');
        const v2 = (await uploadFile(gw.url, a.apiKey, '/plans', 'plan.txt', 'v2 secret')).body.data.uploadFile;
        const versions = await gql(`{ file(path: "/plans/plan.txt") { versions { edges { node { id } } } } }`, {}, a.apiKey);
        const oldVersion = versions.body.data.file.versions.edges[1].node.id;
        await uploadFile(gw.url, a.apiKey, '/gone', 'gone.txt', 'trashed secret');
        const gone = (await gql(`{ folder(path: "/gone") { id } }`, {}, a.apiKey)).body.data.folder;
        await gql(`mutation { deleteEntry(path: "/gone") { deletedFiles } }`, {}, a.apiKey);

        // B's own file of the same path, and B's own trash.
        const mine = (await uploadFile(gw.url, b.apiKey, '/plans', 'plan.txt', 'mine')).body.data.uploadFile;
        expect((await gql(`{ trash { totalCount edges { node { originalPath } } } }`, {}, b.apiKey)).body.data.trash).toEqual({
          totalCount: 0,
          edges: [],
        });
        expect(errorCode(await gql(`mutation($id: ID!) { restoreEntry(id: $id) { id } }`, { id: gone.id }, b.apiKey))).toBe('NOT_FOUND');
        expect(errorCode(await gql(`mutation($id: ID!) { restoreEntry(id: $id, to: "/stolen") { id } }`, { id: gone.id }, b.apiKey))).toBe(
          'NOT_FOUND',
        );
        expect((await gql(`mutation { emptyTrash { deletedFiles deletedFolders } }`, {}, b.apiKey)).body.data.emptyTrash).toEqual({
          deletedFiles: 0,
          deletedFolders: 0,
        });
        for (const versionId of [oldVersion, v2.etag]) {
          const res = await gql(
            `mutation($v: ID!) { restoreFileVersion(path: "/plans/plan.txt", versionId: $v) { md5 } }`,
            { v: versionId },
            b.apiKey,
          );
          expect(errorCode(res)).toBe('NOT_FOUND');
          const content = await fetch(`${gw.url}/files/${v2.id}/content?etag=${versionId}`, { headers: { 'api-key': b.apiKey } });
          expect(content.status).toBe(404);
          const onMine = await fetch(`${gw.url}/files/${mine.id}/content?etag=${versionId}`, { headers: { 'api-key': b.apiKey } });
          expect(onMine.status).toBe(404);
        }
        expect(await (await download(mine.id, {}, b.apiKey)).text()).toBe('mine');
        // A's trash and versions are as they were.
        expect(
          (await gql(`{ trash { totalCount } file(path: "/plans/plan.txt") { versions { totalCount } } }`, {}, a.apiKey)).body.data,
        ).toEqual({
          trash: { totalCount: 1 },
          file: { versions: { totalCount: 2 } },
        });
      });
    });

    it('refuses a multipart POST with neither api-key nor a preflight header (CSRF)', async () => {
      const res = await uploadFile(gw.url, undefined, '/', 'csrf.txt', 'x');
      expect(res.status).toBe(400);
      expect(res.body.errors![0].message).toMatch(/CSRF|preflight/i);
      const withKey = await uploadFile(gw.url, org.apiKey, '/', 'csrf.txt', 'x');
      expect(withKey.status).toBe(200);
    });

    it('reports the storage backend in /readyz', async () => {
      const res = await fetch(`${gw.url}/readyz`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).checks.storage).toEqual({ ok: true });
    });
  });
}

/** A connection the backend dropped (the firebase-tools GCS emulator resets one now and then in a burst of uploads). */
function isConnectionReset(error: unknown): boolean {
  for (let e: any = error; e; e = e.cause) {
    if (/ECONNRESET|EPIPE|socket hang up/.test(`${e.code ?? ''} ${e.message ?? ''}`)) return true;
  }
  return false;
}

/**
 * Runs a test's setup jobs `concurrency` at a time. A job whose connection was reset is run again
 * (at most twice): the setup is not what these tests check, and an upload that failed commits
 * nothing (its pending record is drained), so running it again is the same upload.
 */
async function runLimited(jobs: Array<() => Promise<unknown>>, concurrency: number): Promise<void> {
  let next = 0;
  const attempt = async (job: () => Promise<unknown>, left: number): Promise<unknown> =>
    job().catch((error) => {
      if (left > 0 && isConnectionReset(error)) return attempt(job, left - 1);
      throw error;
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) await attempt(jobs[next++], 2);
    }),
  );
}
