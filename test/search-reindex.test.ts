import path from 'node:path';
import { useGatewayWithOrg } from './support/gateway';
import { makeDocx, makePdf } from './support/documents';
import { errorCode, graphql } from './support/http';
import { childEnv, ensureBuiltCli, ROOT, runCli, runCliJson, runProcess } from './support/process';
import { uploadFile } from './support/storage';

/**
 * `alloy storage reindex`: the real CLI, as a separate process, on a gateway that runs no jobs, so
 * that whatever text is found was read by the command.
 */
describe('alloy storage reindex', () => {
  const { gw, org } = useGatewayWithOrg({ storageDir: true, background: false });
  let env: Record<string, string>;

  const upload = async (folder: string, name: string, bytes: Buffer | string, contentType?: string) => {
    const res = await uploadFile(gw.url, org.apiKey, folder, name, bytes, { contentType, select: 'id path' });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.uploadFile as { id: string; path: string };
  };
  const statuses = async () => {
    const res = await graphql(
      gw.url,
      `
        {
          folder(path: "/kb") {
            children(first: 100) {
              edges {
                node {
                  name
                  ... on File {
                    textStatus
                  }
                }
              }
            }
          }
        }
      `,
      {},
      { apiKey: org.apiKey },
    );
    return Object.fromEntries(res.body.data.folder.children.edges.map((e: any) => [e.node.name, e.node.textStatus]));
  };
  const found = async (query: string) => {
    const res = await graphql(
      gw.url,
      'query($q: String!) { search(query: $q) { edges { node { snippet node { path } } } } }',
      { q: query },
      { apiKey: org.apiKey },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data.search.edges.map((e: any) => e.node.node.path);
  };

  let corrupt: { id: string };
  beforeAll(async () => {
    // Before any request: building blocks this process, and a kept-alive connection would go stale meanwhile.
    ensureBuiltCli();
    env = { STORAGE_DIR: gw.config.storageDir, DATABASE_URL: gw.database.url, LOG_LEVEL: 'silent' };
    await upload('/kb', 'guide.pdf', await makePdf([['Mountain rescue procedures for avalanche terrain.']]), 'application/pdf');
    await upload('/kb', 'memo.docx', await makeDocx(['Reindexing finds the quokka.']), undefined);
    await upload('/kb', 'photo.jpg', Buffer.from('ffd8ffe000104a464946', 'hex'), 'image/jpeg');
    corrupt = await upload('/kb', 'broken.pdf', Buffer.from('%PDF-1.4 this is not a pdf at all'), 'application/pdf');
    const old = await upload('/kb', 'legacy.txt', 'stored before search existed: marmots');
    // As a file stored before the Search migration: no text row at all.
    await gw.db.query('DELETE FROM storage_texts WHERE entry_id = $1', [old.id]);
  }, 120_000);

  it('reads the text of every file of the organization (--json), and search finds it', async () => {
    expect(await statuses()).toEqual({
      'broken.pdf': 'PENDING',
      'guide.pdf': 'PENDING',
      'legacy.txt': null,
      'memo.docx': 'PENDING',
      // Known from its type alone, in the upload's own transaction.
      'photo.jpg': 'NOT_TEXT',
    });
    expect(await found('avalanche')).toEqual([]);

    const { code, json, stderr } = await runCliJson(['storage', 'reindex', '--org', org.orgId], env, { timeoutMs: 60_000 });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(json).toMatchObject({
      files: 5,
      indexed: 3,
      notText: 1,
      failed: 1,
      seconds: expect.any(Number),
      failures: [{ entryId: corrupt.id, reason: expect.stringMatching(/PDF/) }],
    });
    expect(await statuses()).toEqual({
      'broken.pdf': 'FAILED',
      'guide.pdf': 'INDEXED',
      'legacy.txt': 'INDEXED',
      'memo.docx': 'INDEXED',
      'photo.jpg': 'NOT_TEXT',
    });
    expect(await found('avalanche')).toEqual(['/kb/guide.pdf']);
    expect(await found('quokka')).toEqual(['/kb/memo.docx']);
    expect(await found('marmots')).toEqual(['/kb/legacy.txt']);
  }, 90_000);

  it('shows a progress bar on a terminal and a summary line', async () => {
    // `script` gives the command a pseudo-terminal, as a person running it would have.
    const command = [process.execPath, path.join(ROOT, 'bin', 'alloy.js'), 'storage', 'reindex', '--org', org.orgId]
      .map((part) => `'${part.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const result = await runProcess('script', ['-qec', command, '/dev/null'], { env: childEnv(env), timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/reindexing \[[^\]]*\] \d+\/5 files/);
    expect(result.stdout).toMatch(/Reindexed 5 files in [\d.]+ s: 3 indexed, 1 not text, 1 failed/);
    expect(result.stdout).toContain(`failed: ${corrupt.id}:`);
  }, 90_000);

  it('answers NOT_FOUND for an unknown organization and changes nothing', async () => {
    const { code, json } = await runCliJson(['storage', 'reindex', '--org', '00000000-0000-4000-8000-000000000000'], env);
    expect(code).toBe(1);
    expect(json.error.code).toBe('NOT_FOUND');
    const missing = await runCli(['storage', 'reindex'], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--org/);
    // Nothing else changed: the same search as before.
    expect(await found('quokka')).toEqual(['/kb/memo.docx']);
    expect(errorCode(await graphql(gw.url, '{ search(query: "") { totalCount } }', {}, { apiKey: org.apiKey }))).toBe('BAD_USER_INPUT');
  }, 60_000);
});
