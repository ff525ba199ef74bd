import fs from 'node:fs';
import path from 'node:path';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { md5, tempDir } from './support/storage';
import { runCli } from './support/process';

const LIMIT = 1000;

/** The real CLI, as a separate process. */
const alloy = (args: string[], env: Record<string, string>) => runCli(args, { LOG_LEVEL: 'silent', ...env });

describe('alloy storage import', () => {
  const { gw, org } = useGatewayWithOrg({ env: { MAX_UPLOAD_BYTES: String(LIMIT) }, storageDir: true });
  let local: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    local = tempDir('alloy-cli-src-');
    env = { STORAGE_DIR: gw.config.storageDir, MAX_UPLOAD_BYTES: String(LIMIT), DATABASE_URL: gw.database.url };
    fs.mkdirSync(path.join(local, 'reports/2024'), { recursive: true });
    fs.mkdirSync(path.join(local, 'empty'));
    fs.writeFileSync(path.join(local, 'readme.md'), '# hi\n');
    fs.writeFileSync(path.join(local, 'reports/2024/q1.csv'), 'a,b\n1,2\n');
    fs.writeFileSync(path.join(local, 'reports/Übersicht.txt'), 'ü');
    fs.writeFileSync(path.join(local, 'reports/exact.bin'), Buffer.alloc(LIMIT, 7));
    fs.writeFileSync(path.join(local, 'reports/too-big.bin'), Buffer.alloc(LIMIT + 1, 7));
  }, 120_000);
  afterAll(() => fs.rmSync(local, { recursive: true, force: true }));

  it('imports a tree through the storage service, skipping and reporting files over the limit (--json)', async () => {
    const { code, stdout, stderr } = await alloy(['storage', 'import', local, '--org', org.orgId, '--to', '/imported', '--json'], env);
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]);
    expect(summary).toMatchObject({
      files: 4,
      bytes: 5 + 8 + 2 + LIMIT,
      seconds: expect.any(Number),
      failures: [{ path: 'reports/too-big.bin', reason: expect.stringMatching(/over the upload limit of 1000 bytes/) }],
    });
    expect(code).toBe(1); // partial import

    const res = await graphql(
      gw.url,
      `
        {
          a: file(path: "/imported/reports/2024/q1.csv") {
            md5
            size
          }
          b: file(path: "/imported/reports/Übersicht.txt") {
            contentType
          }
          c: file(path: "/imported/reports/too-big.bin") {
            id
          }
          d: folder(path: "/imported/empty") {
            path
          }
        }
      `,
      {},
      { apiKey: org.apiKey },
    );
    expect(res.body.data).toEqual({
      a: { md5: md5('a,b\n1,2\n'), size: 8 },
      b: { contentType: 'text/plain' },
      c: null,
      d: { path: '/imported/empty' },
    });
  }, 120_000);

  it('prints a summary line without a progress bar when not on a terminal, and re-imports as overwrites', async () => {
    const before = await graphql(
      gw.url,
      `
        {
          file(path: "/imported/readme.md") {
            id
            etag
          }
        }
      `,
      {},
      { apiKey: org.apiKey },
    );
    const { stdout, stderr } = await alloy(['storage', 'import', local, '--org', org.orgId, '--to', '/imported'], env);
    expect(stdout).toMatch(
      /^Imported 4 files \(\d+ bytes, [\d.]+ MB\) in [\d.]+ s; 1 failed\n {2}failed: reports\/too-big.bin: .*over the upload limit/,
    );
    expect(stderr).not.toMatch(/importing \[/);
    const after = await graphql(
      gw.url,
      `
        {
          file(path: "/imported/readme.md") {
            id
            etag
          }
        }
      `,
      {},
      { apiKey: org.apiKey },
    );
    expect(after.body.data.file.id).toBe(before.body.data.file.id);
    expect(after.body.data.file.etag).not.toBe(before.body.data.file.etag);
  }, 120_000);

  it('refuses an unknown organization with one JSON error', async () => {
    const { code, stdout } = await alloy(['storage', 'import', local, '--org', '00000000-0000-4000-8000-000000000000', '--json'], env);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/not found/) } });
  }, 120_000);
});
