import fs from 'node:fs';
import { runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';
import { md5, tempDir } from './support/storage';

describe('README storage examples', () => {
  const { gw, org } = useGatewayWithOrg({ storageDir: true, orgName: 'Readme Storage Org' });
  let cwd: string;

  beforeAll(() => {
    cwd = tempDir('alloy-readme-cwd-');
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('uploads with plain curl -F and only the api-key header, then downloads by key and by signed URL', async () => {
    const upload = await runExample('upload', { ALLOY_URL: gw.url, API_KEY: org.apiKey }, cwd);
    expect(upload.stderr).toBe('');
    expect(upload.code).toBe(0);
    expect(JSON.parse(upload.stdout)).toEqual({
      data: {
        uploadFile: {
          id: expect.any(String),
          path: '/reports/2024/report.txt',
          size: 18,
          contentType: 'text/plain',
          md5: md5('quarterly numbers\n'),
        },
      },
    });

    const download = await runExample('download', { ALLOY_URL: gw.url, API_KEY: org.apiKey }, cwd);
    expect(download.stderr).toBe('');
    expect(download.code).toBe(0);
    expect(download.stdout).toBe('quarterly\nquarterly numbers\n');
  });

  it('overwrites, lists the versions and restores the first; then trashes the folder and restores it from the trash', async () => {
    const env = { ALLOY_URL: gw.url, API_KEY: org.apiKey };
    const versions = await runExample('versions', env, cwd);
    expect(versions.stderr).toBe('');
    expect(versions.code).toBe(0);
    expect(JSON.parse(versions.stdout)).toEqual({ data: { restoreFileVersion: { size: 18, versions: { totalCount: 3 } } } });
    const file = await gw.services.storage.reads.findByPath(org.orgId, '/reports/2024/report.txt');
    expect(file?.md5).toBe(md5('quarterly numbers\n'));

    const trash = await runExample('trash', env, cwd);
    expect(trash.stderr).toBe('');
    expect(trash.code).toBe(0);
    const [deleted, restored] = trash.stdout.trim().split('\n');
    expect(JSON.parse(deleted)).toEqual({ data: { deleteEntry: { deletedFiles: 1, deletedFolders: 2 } } });
    expect(JSON.parse(restored)).toEqual({ data: { restoreEntry: { path: '/reports' } } });
    expect((await gw.services.storage.reads.findByPath(org.orgId, '/reports/2024/report.txt'))?.id).toBe(file!.id);
  });
});
