import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readmeExample, runExample } from './support/readme';
import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { freePort, ROOT, runBash, WatchedProcess } from './support/process';

/**
 * README examples as a newcomer pastes them, with only what the README has them set
 * (`ALLOY_URL`, `API_KEY`, the ids it printed): the answers it quotes are the answers they get.
 */

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The text of the first fenced block of `language` after `heading` in the README. */
function blockAfter(heading: string, language: string): string {
  const at = README.indexOf(heading);
  if (at < 0) throw new Error(`README has no "${heading}"`);
  return new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(README.slice(at))![1];
}

/** The answer the README quotes right after an example: "answers `{…}`". */
function quotedAnswer(example: string): string {
  const after = README.slice(README.indexOf(`<!-- example: ${example} -->`));
  return /answers `(\{.*?\})`/s.exec(after)![1];
}

describe('README examples a newcomer runs', () => {
  const { gw, org } = useGatewayWithOrg({ orgName: 'Readme Newcomer' });
  let dir: string;
  const env = () => ({ ALLOY_URL: gw.url, API_KEY: org.apiKey });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-readme-newcomer-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('createFolder, renameEntry, moveEntry and deleteEntry answer exactly what the comments under them say', async () => {
    const { stdout, stderr, code } = await runExample('tree', env());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const quoted = readmeExample('tree')
      .split('\n')
      .filter((line) => line.startsWith('# '))
      .map((line) => line.slice(2));
    expect(quoted).toHaveLength(4);
    expect(stdout.trim().split('\n')).toEqual(quoted);
    const left = await graphql(gw.url, '{ folder(path: "/projects") { id } }', {}, { apiKey: org.apiKey });
    expect(left.body.data.folder).toBeNull();
  });

  it("trigger-and-wait answers what the README quotes when notify.json calls the README's receiver", async () => {
    const port = await freePort();
    const definition = JSON.parse(
      blockAfter('Save a definition as `notify.json`', 'json').replace('http://127.0.0.1:9000', `http://127.0.0.1:${port}`),
    );
    const { workflow, signingSecret } = await gw.services.workflows.createWorkflow(org.orgId, definition);
    const script = path.join(dir, 'receiver.js');
    fs.writeFileSync(script, readmeExample('verify-signature', 'js'));
    const receiver = new WatchedProcess(process.execPath, [script], {
      cwd: dir,
      env: { ...process.env, SIGNING_SECRET: signingSecret, PORT: String(port) },
    });
    try {
      await receiver.waitForOutput(/receiver listening/, 30_000);
      const { stdout, stderr, code } = await runExample('trigger-and-wait', { ...env(), WORKFLOW_ID: workflow.id });
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const answer = JSON.parse(stdout);
      const quoted = JSON.parse(quotedAnswer('trigger-and-wait').replace('"…"', JSON.stringify(answer.data.triggerWorkflow.runId)));
      expect(answer).toEqual(quoted);
    } finally {
      receiver.child.kill();
      await receiver.finished;
    }
  });

  it("the teammate's generated curl and JavaScript examples work as pasted, with the README's API_KEY", async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'echo',
      startStep: 'shape',
      steps: { shape: { type: 'transform', output: { echo: '{{payload.message}}' } } },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Pasted', workflowId: workflow.id, channels: ['API'] });
    const res = await graphql(
      gw.url,
      'query($id: ID!) { teammate(id: $id) { api { examples { language code } } } }',
      { id: teammate.id },
      { apiKey: org.apiKey },
    );
    const examples: Array<{ language: string; code: string }> = res.body.data.teammate.api.examples;
    const code = (language: string) => examples.find((e) => e.language === language)!.code;
    // Pasted with only what the README has users set: the key is accepted (not UNAUTHENTICATED).
    const curl = JSON.parse((await runBash(code('curl'), env())).stdout);
    expect(curl.errors).toBeUndefined();
    expect(curl.data.callTeammate.runId).toEqual(expect.any(String));
    const js = JSON.parse((await runBash('node -e "$EXAMPLE"', { ...env(), EXAMPLE: code('javascript') })).stdout);
    expect(js.errors).toBeUndefined();
    expect(js.data.callTeammate.runId).toEqual(expect.any(String));
  });

  it("the README's subscription script exits 1 when the run is not found", async () => {
    const script = path.join(dir, 'watch-run.js');
    fs.writeFileSync(script, readmeExample('watch-run', 'js'));
    const watcher = new WatchedProcess(process.execPath, [script], {
      cwd: ROOT,
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ...env(), RUN_ID: '00000000-0000-4000-8000-000000000000' },
    });
    const { code } = await watcher.finished;
    expect(code).toBe(1);
    expect(watcher.stdout).toContain('"code":"NOT_FOUND"');
  });
});
