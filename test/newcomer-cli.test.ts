import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { tempDir } from './support/storage';
import { ROOT, runCli, runProcess, singleJsonObject } from './support/process';

/**
 * What a new user types wrong on the command line, run through the real `alloy` command: every
 * mistake is one line saying what is wrong (a stable code under --json), exit 1, and nothing
 * stored; INTERNAL_ERROR is left for bugs. And `storage import` reads only what lies inside the
 * directory it was given.
 */

const MISSING_ORG = '00000000-0000-4000-8000-000000000000';

describe('the alloy command, as a newcomer uses it', () => {
  const { gw, org } = useGatewayWithOrg({ storageDir: true, background: false });
  let env: Record<string, string>;
  let scratch: string;
  const alloy = (args: string[], cwd?: string) => runCli(args, { LOG_LEVEL: 'silent', ...env }, { cwd });
  const names = async (folder: string): Promise<string[]> => {
    const res = await graphql(
      gw.url,
      'query($p: String!) { folder(path: $p) { children(first: 100) { edges { node { name } } } } }',
      { p: folder },
      { apiKey: org.apiKey },
    );
    return (res.body.data.folder?.children.edges ?? []).map((e: { node: { name: string } }) => e.node.name).sort();
  };

  beforeAll(() => {
    env = { STORAGE_DIR: gw.config.storageDir, DATABASE_URL: gw.database.url };
    scratch = tempDir('alloy-newcomer-');
    fs.writeFileSync(path.join(scratch, 'a-file.txt'), 'not a folder');
    fs.writeFileSync(path.join(scratch, 'broken.json'), '{ "name": ');
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  describe('argument and file mistakes', () => {
    const cases: Array<[string, () => string[], string, RegExp]> = [
      [
        'import of a folder that does not exist',
        () => ['storage', 'import', '/nonexistent', '--org', org.orgId],
        'DIRECTORY_NOT_FOUND',
        /^\/nonexistent: no such directory$/,
      ],
      [
        'import of a relative folder that does not exist',
        () => ['storage', 'import', 'no/such/dir', '--org', org.orgId],
        'DIRECTORY_NOT_FOUND',
        /^no\/such\/dir: no such directory \(from \//,
      ],
      [
        'import of a file',
        () => ['storage', 'import', path.join(scratch, 'a-file.txt'), '--org', org.orgId],
        'NOT_A_DIRECTORY',
        /is not a directory/,
      ],
      [
        'import into a relative folder',
        () => ['storage', 'import', scratch, '--org', org.orgId, '--to', 'docs'],
        'INVALID_PATH',
        /must be absolute/,
      ],
      ['import for an unknown organization', () => ['storage', 'import', scratch, '--org', MISSING_ORG], 'NOT_FOUND', /not found/],
      ['import for an organization id that is no id', () => ['storage', 'import', scratch, '--org', 'acme'], 'NOT_FOUND', /not found/],
      [
        'workflow create from a missing file',
        () => ['workflow', 'create', '--org', org.orgId, '--file', '/nonexistent.json'],
        'BAD_USER_INPUT',
        /^Cannot read \/nonexistent.json: no such file$/,
      ],
      [
        'workflow create from a folder',
        () => ['workflow', 'create', '--org', org.orgId, '--file', scratch],
        'BAD_USER_INPUT',
        /^Cannot read .*: it is a folder; give the JSON file$/,
      ],
      [
        'workflow create from broken JSON',
        () => ['workflow', 'create', '--org', org.orgId, '--file', path.join(scratch, 'broken.json')],
        'BAD_USER_INPUT',
        /not valid JSON/,
      ],
      ['workflow update of an id that is no id', () => ['workflow', 'show', 'nope'], 'WORKFLOW_NOT_FOUND', /not found/],
      [
        'rotate-secret with a word for seconds',
        () => ['workflow', 'rotate-secret', MISSING_ORG, '--keep-previous', 'soon'],
        'BAD_USER_INPUT',
        /whole number/,
      ],
      ['key create for an unknown organization', () => ['key', 'create', '--org', 'acme'], 'NOT_FOUND', /not found/],
      ['key revoke of an id that is no id', () => ['key', 'revoke', 'nope'], 'NOT_FOUND', /not found/],
      ['org rename of an unknown organization', () => ['org', 'rename', MISSING_ORG, 'x'], 'NOT_FOUND', /not found/],
      [
        'teammate create with an unknown channel',
        () => ['teammate', 'create', '--org', org.orgId, '--name', 'x', '--workflow', MISSING_ORG, '--channel', 'SMS'],
        'BAD_USER_INPUT',
        /Unknown channel/,
      ],
      ['teammate update with nothing to change', () => ['teammate', 'update', MISSING_ORG], 'BAD_USER_INPUT', /Nothing to change/],
      ['an unknown option', () => ['org', 'list', '--colour'], 'USAGE_ERROR', /Unknown option '--colour'/],
    ];

    it.each(cases)('%s: one line, a stable code under --json, exit 1', async (_label, args, code, message) => {
      const json = await alloy([...args(), '--json']);
      expect(json.code).toBe(1);
      expect(singleJsonObject(json.stdout)).toEqual({ error: { code, message: expect.stringMatching(message) } });
      expect(json.stderr).toBe('');

      const human = await alloy(args());
      expect(human.code).toBe(1);
      expect(human.stdout).toBe('');
      if (code !== 'USAGE_ERROR')
        expect(human.stderr.trim().split('\n')).toEqual([`alloy: ${singleJsonObject(json.stdout).error.message}`]);
    });

    it('a relative folder is read from the directory the command runs in', async () => {
      fs.mkdirSync(path.join(scratch, 'relative', 'inner'), { recursive: true });
      fs.writeFileSync(path.join(scratch, 'relative', 'inner', 'note.txt'), 'relative');
      const result = await alloy(['storage', 'import', 'relative', '--org', org.orgId, '--to', '/rel', '--json'], scratch);
      expect(result.code).toBe(0);
      expect(singleJsonObject(result.stdout)).toMatchObject({ files: 1, failures: [], skipped: [] });
      expect(await names('/rel/inner')).toEqual(['note.txt']);
    });

    it('nothing was stored by the refused imports', async () => {
      expect(await names('/')).not.toContain('docs');
      const res = await graphql(gw.url, '{ workflows(first: 10) { edges { node { id } } } }', {}, { apiKey: org.apiKey });
      expect(res.body.data.workflows.edges).toEqual([]);
    });
  });

  describe('--version and keys shown once', () => {
    it('alloy --version prints the package version, exit 0 (and as JSON with --json)', async () => {
      const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
      const plain = await alloy(['--version']);
      expect(plain).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
      const json = await alloy(['--version', '--json']);
      expect(json.code).toBe(0);
      expect(singleJsonObject(json.stdout)).toEqual({ version });
    });

    it('org create without --json says the key is shown only once and how to make another', async () => {
      const created = await alloy(['org', 'create', 'Once']);
      expect(created.code).toBe(0);
      const orgId = /^Organization (\S+)$/m.exec(created.stdout)![1];
      expect(created.stdout).toMatch(/^API key: alloy_sk_\S+$/m);
      expect(created.stdout).toContain(`shown only once`);
      expect(created.stdout).toContain(`alloy key create --org ${orgId}`);
      const key = await alloy(['key', 'create', '--org', orgId]);
      expect(key.stdout).toContain('shown only once');
    });
  });

  describe('storage import reads only what lies inside the folder', () => {
    let local: string;
    let outside: string;
    beforeAll(() => {
      local = tempDir('alloy-links-');
      outside = tempDir('alloy-outside-');
      fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside');
      fs.mkdirSync(path.join(local, 'docs', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(local, 'docs', 'readme.md'), '# inside');
      fs.writeFileSync(path.join(local, 'docs', 'sub', 'deep.txt'), 'deep');
      fs.symlinkSync('/etc/passwd', path.join(local, 'docs', 'link-to-passwd'));
      fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(local, 'docs', 'link-out'));
      fs.symlinkSync(outside, path.join(local, 'docs', 'folder-out'));
      fs.symlinkSync('readme.md', path.join(local, 'docs', 'link-in'));
      fs.symlinkSync('sub', path.join(local, 'docs', 'folder-in'));
      fs.symlinkSync('..', path.join(local, 'docs', 'loop'));
      fs.symlinkSync('nowhere', path.join(local, 'docs', 'dangling'));
      execFileSync('mkfifo', [path.join(local, 'docs', 'pipe')]);
    });
    afterAll(() => {
      fs.rmSync(local, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    });

    it('skips every link and special file by default, and says so in the summary', async () => {
      const human = await alloy(['storage', 'import', local, '--org', org.orgId, '--to', '/plain']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        /^Imported 2 files \(\d+ bytes, [\d.]+ MB\) in [\d.]+ s; 0 failed; skipped: 7 symbolic links, 1 special file$/m,
      );
      expect(human.stdout).toContain('  skipped: docs/link-to-passwd: symbolic link\n');
      expect(human.stdout).toContain('  skipped: docs/pipe: special file\n');
      expect(await names('/plain/docs')).toEqual(['readme.md', 'sub']);

      const json = await alloy(['storage', 'import', local, '--org', org.orgId, '--to', '/plain2', '--json']);
      const summary = singleJsonObject(json.stdout);
      expect(summary.files).toBe(2);
      expect(summary.skipped).toEqual(
        ['dangling', 'folder-in', 'folder-out', 'link-in', 'link-out', 'link-to-passwd', 'loop']
          .map((name) => ({
            path: `docs/${name}`,
            reason: 'symbolic link',
          }))
          .concat([{ path: 'docs/pipe', reason: 'special file' }])
          .sort((a, b) => (a.path < b.path ? -1 : 1)),
      );
    });

    it('--follow-links follows only the links that stay inside; the rest are skipped and named', async () => {
      const json = await alloy(['storage', 'import', local, '--org', org.orgId, '--to', '/followed', '--follow-links', '--json']);
      expect(json.code).toBe(0);
      const summary = singleJsonObject(json.stdout);
      // readme, deep, link-in (readme again) and folder-in/deep.txt.
      expect(summary.files).toBe(4);
      expect(summary.skipped).toEqual([
        { path: 'docs/dangling', reason: 'symbolic link to nothing' },
        { path: 'docs/folder-out', reason: 'symbolic link out of the directory' },
        { path: 'docs/link-out', reason: 'symbolic link out of the directory' },
        { path: 'docs/link-to-passwd', reason: 'symbolic link out of the directory' },
        { path: 'docs/loop', reason: 'symbolic link to a folder that contains it' },
        { path: 'docs/pipe', reason: 'special file' },
      ]);
      expect(await names('/followed/docs')).toEqual(['folder-in', 'link-in', 'readme.md', 'sub']);
      expect(await names('/followed/docs/folder-in')).toEqual(['deep.txt']);
      const res = await graphql(gw.url, '{ file(path: "/followed/docs/link-in") { size } }', {}, { apiKey: org.apiKey });
      expect(res.body.data.file).toEqual({ size: '# inside'.length });
    });
  });
});

/**
 * Outside the clone `npx alloy` would fetch an unrelated package of that name; the README's form
 * `npx --no -- alloy` never fetches one. A registry of our own stands in for npm's: it offers an
 * `alloy` package and records whether its tarball is asked for.
 */
describe('npx --no -- alloy, the form the README shows', () => {
  let registry: http.Server;
  let tarballs: string[];
  let outside: string;
  let npmEnv: NodeJS.ProcessEnv;
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const npx = (args: string[], cwd: string, extra: Record<string, string> = {}) =>
    runProcess('npx', args, { cwd, env: { ...npmEnv, ...extra }, timeoutMs: 60_000 });

  beforeAll(async () => {
    tarballs = [];
    registry = http.createServer((req, res) => {
      const base = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
      if (req.url?.endsWith('.tgz')) {
        tarballs.push(req.url);
        res.writeHead(404).end();
      } else if (req.url === '/alloy') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            name: 'alloy',
            'dist-tags': { latest: '3.0.1' },
            versions: {
              '3.0.1': { name: 'alloy', version: '3.0.1', bin: { alloy: 'cli.js' }, dist: { tarball: `${base}/alloy/-/alloy-3.0.1.tgz` } },
            },
          }),
        );
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-outside-'));
    npmEnv = {
      ...process.env,
      npm_config_registry: `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`,
      npm_config_cache: path.join(outside, '.npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => registry.close(resolve));
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('the README says where the command works and shows the form that never fetches', () => {
    expect(readme).toContain('`npx --no -- alloy <command>` can never do that');
  });

  it("runs this checkout's alloy in a folder below the clone", async () => {
    const result = await npx(['--no', '--', 'alloy', '--version'], path.join(ROOT, 'src', 'cli'));
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('outside the clone it stops without fetching, even where npx is told to say yes', async () => {
    const result = await npx(['--no', '--', 'alloy', '--version'], outside, { npm_config_yes: 'true' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/npx canceled due to missing packages/);
    expect(tarballs).toEqual([]);
    // Where npx may say yes, the plain form fetches the other package: what the README warns about.
    await npx(['--yes', 'alloy', 'org', 'list'], outside);
    expect(tarballs).toEqual(['/alloy/-/alloy-3.0.1.tgz']);
  });
});
