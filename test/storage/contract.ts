import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { errorCode, graphql } from '../support/http';
import type { TestGateway } from '../support/gateway';
import { DEFAULT_DELETION_DELAY_SECONDS } from '../../src/storage/object-deletions';
import { CountingDriver, md5, uploadFile } from '../support/storage';
import { waitFor } from '../support/poll';

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

    it('overwrites in place: same id, new etag and bytes; the old object is deleted by the job', async () => {
      const o = await freshOrg();
      const first = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n1,2\n')).body.data.uploadFile;
      const second = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n3,4\n5,6\n')).body.data.uploadFile;
      expect(second.id).toBe(first.id);
      expect(second.etag).not.toBe(first.etag);
      expect(second.md5).toBe(md5('a,b\n3,4\n5,6\n'));
      const content = await download(first.id, {}, o.apiKey);
      expect(await content.text()).toBe('a,b\n3,4\n5,6\n');
      await waitFor(async () => (await keysOf(o.orgId)).length === 1, Boolean, 30_000, 'the replaced object to be deleted');
      // Same bytes again still mean a new version.
      const third = (await uploadFile(gw.url, o.apiKey, '/', 'report.csv', 'a,b\n3,4\n5,6\n')).body.data.uploadFile;
      expect(third.etag).not.toBe(second.etag);
    });

    it('by default keeps a replaced object for a while, so downloads in progress can finish', async () => {
      const o = await freshOrg();
      const { deletions } = gw.services.storage;
      deletions.delaySeconds = DEFAULT_DELETION_DELAY_SECONDS;
      try {
        await uploadFile(gw.url, o.apiKey, '/', 'v.txt', 'one');
        await uploadFile(gw.url, o.apiKey, '/', 'v.txt', 'two');
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

      await waitFor(async () => (await keysOf(o.orgId)).length === 1, Boolean, 30_000, 'replaced objects to be deleted');
      await gw.services.storage.sweepOrphans(0);
      expect(await keysOf(o.orgId)).toHaveLength(1);
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

    it('deletes a folder tree in one go: rows at once, objects after the job runs', async () => {
      const o = await freshOrg();
      for (const p of ['/t/a.txt', '/t/x/b.txt', '/t/x/y/c.txt', '/keep.txt']) {
        const at = p.lastIndexOf('/');
        await uploadFile(gw.url, o.apiKey, p.slice(0, at) || '/', p.slice(at + 1), p);
      }
      await gql(`mutation { createFolder(path: "/t/empty/deeper") { id } }`, {}, o.apiKey);
      expect(await keysOf(o.orgId)).toHaveLength(4);
      const res = await gql(`mutation { deleteEntry(path: "/t") { deletedFiles deletedFolders } }`, {}, o.apiKey);
      expect(res.body.data.deleteEntry).toEqual({ deletedFiles: 3, deletedFolders: 5 });
      expect(await rowsOf(o.orgId)).toBe(1); // /keep.txt
      expect((await gql(`{ folder(path: "/t") { id } }`, {}, o.apiKey)).body.data.folder).toBeNull();
      await waitFor(async () => (await keysOf(o.orgId)).length === 1, Boolean, 30_000, 'deleted objects to be removed by the job');

      const file = await gql(`mutation { deleteEntry(path: "/keep.txt") { deletedFiles deletedFolders } }`, {}, o.apiKey);
      expect(file.body.data.deleteEntry).toEqual({ deletedFiles: 1, deletedFolders: 0 });
      await waitFor(async () => (await keysOf(o.orgId)).length === 0, Boolean, 30_000, 'the deleted file object to be removed');
      expect(errorCode(await gql(`mutation { deleteEntry(path: "/keep.txt") { deletedFiles } }`, {}, o.apiKey))).toBe('NOT_FOUND');
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

async function runLimited(jobs: Array<() => Promise<unknown>>, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}
