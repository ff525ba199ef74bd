import fs from 'node:fs';
import { runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { waitFor } from './support/poll';
import { tempDir } from './support/storage';

describe('README search example', () => {
  const { gw, org } = useGatewayWithOrg({ storageDir: true, orgName: 'Readme Search Org' });
  let cwd: string;

  beforeAll(() => {
    cwd = tempDir('alloy-readme-search-');
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('finds the uploaded report by the text inside it, with a snippet', async () => {
    const env = { ALLOY_URL: gw.url, API_KEY: org.apiKey };
    const upload = await runExample('upload', env, cwd);
    expect(upload.code).toBe(0);
    await waitFor(
      async () =>
        (await graphql(gw.url, '{ file(path: "/reports/2024/report.txt") { textStatus } }', {}, { apiKey: org.apiKey })).body.data?.file
          ?.textStatus,
      (status) => status === 'INDEXED',
      30_000,
      'the report to be indexed',
    );
    const { stdout, stderr, code } = await runExample('search', env, cwd);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      data: {
        search: {
          totalCount: 1,
          edges: [
            {
              node: {
                score: expect.any(Number),
                snippet: '**quarterly** **numbers**',
                node: { path: '/reports/2024/report.txt', textStatus: 'INDEXED' },
              },
            },
          ],
        },
      },
    });
  });
});
