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
});
