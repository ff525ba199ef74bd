import fs from 'node:fs';
import path from 'node:path';
import { runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';

describe('README examples', () => {
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Readme Org' });

  it('finds ORG_ID with the key, as the first-request section shows', async () => {
    const { stdout, code, stderr } = await runExample('org-id', { ALLOY_URL: gw.url, API_KEY: org.apiKey });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(org.orgId);
  });

  it('the first curl request answers the organization', async () => {
    const { stdout, code, stderr } = await runExample('organization', { ALLOY_URL: gw.url, API_KEY: org.apiKey });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ data: { organization: { id: expect.any(String), name: 'Readme Org' } } });
  });

  it('stands on its own in a clone: every link it makes to a file points inside the repository, at a file that is there', () => {
    const root = path.resolve(__dirname, '..');
    for (const document of ['README.md', 'SECURITY.md']) {
      const text = fs.readFileSync(path.join(root, document), 'utf8');
      const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^(https?:|mailto:|#)/.test(t));
      for (const target of targets) {
        const file = path.resolve(root, target.split('#')[0]);
        expect([document, target, file.startsWith(root + path.sep) && fs.existsSync(file)]).toEqual([document, target, true]);
      }
      // No mention of files beside the repository, such as the contract this README replaces.
      expect([document, text.match(/\.\.\/[\w.-]+\//g)]).toEqual([document, null]);
    }
  });

  it('names only files and folders of the repository that are there (the layout section says where things are)', () => {
    const root = path.resolve(__dirname, '..');
    for (const document of ['README.md', 'SECURITY.md']) {
      const text = fs.readFileSync(path.join(root, document), 'utf8');
      // Paths in code spans; a placeholder (`src/<capability>/`) or a glob (`test/readme*.test.ts`) names no one file.
      const named = [...text.matchAll(/`((?:src|test|scripts|bin|bench|schema)\/[^`\s]*)`/g)]
        .map((m) => m[1])
        .filter((p) => !/[<*]/.test(p));
      expect(named.length).toBeGreaterThan(document === 'README.md' ? 30 : 0);
      expect([document, named.filter((target) => !fs.existsSync(path.join(root, target)))]).toEqual([document, []]);
    }
  });
});
