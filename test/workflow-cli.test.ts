import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, TestDatabase } from './support/database';
import { runCliJson } from './support/process';

type DB = TestDatabase & { dataSource: import('typeorm').DataSource };

describe('alloy workflow create / alloy teammate create', () => {
  let db: DB;
  let dir: string;
  let orgId: string;

  /** The compiled CLI with --json: exactly one JSON object on stdout. */
  const alloy = (...args: string[]) => runCliJson(args, { DATABASE_URL: db.url });
  const file = (name: string, content: unknown) => {
    const target = path.join(dir, name);
    fs.writeFileSync(target, typeof content === 'string' ? content : JSON.stringify(content));
    return target;
  };
  const count = async (table: string) => (await db.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`))[0].n as number;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-wf-cli-'));
    // Through the CLI, as an admin would: its services come from the composition root.
    ({ orgId } = (await alloy('org', 'create', 'CLI Org')).json);
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('creates a workflow from a definition file and prints its id', async () => {
    const def = file('notify.json', {
      name: 'notify',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: 'http://127.0.0.1:9000/hook', next: 'shape' },
        shape: { type: 'transform', output: { echo: '{{payload.text}}' } },
      },
    });
    const { code, json } = await alloy('workflow', 'create', '--org', orgId, '--file', def);
    expect(code).toBe(0);
    expect(json).toEqual({
      workflowId: expect.any(String),
      name: 'notify',
      startable: true,
      signingSecret: expect.stringMatching(/^alloy_whsec_/),
    });
    const [row] = await db.dataSource.query(`SELECT organization_id, start_step, startable FROM workflows WHERE id = $1`, [
      json.workflowId,
    ]);
    expect(row).toEqual({ organization_id: orgId, start_step: 'call', startable: true });
  });

  it('stores a definition without a valid startStep as not startable', async () => {
    const def = file('draft.json', { name: 'draft', startStep: 'missing', steps: { a: { type: 'transform', output: 1 } } });
    const { code, json } = await alloy('workflow', 'create', '--org', orgId, '--file', def);
    expect(code).toBe(0);
    expect(json.startable).toBe(false);
    const [row] = await db.dataSource.query(`SELECT start_step, startable FROM workflows WHERE id = $1`, [json.workflowId]);
    expect(row).toEqual({ start_step: null, startable: false });
  });

  it('refuses an invalid definition listing every problem, and stores nothing', async () => {
    const before = await count('workflows');
    const def = file('bad.json', {
      name: 'bad',
      startStep: 'a',
      steps: {
        a: { type: 'http', url: 'not a url', next: 'nowhere', timeoutMs: -5 },
        b: { type: 'script', code: 'process.exit()' },
        c: { type: 'transform', output: '{{env.SECRET}}' },
        d: { type: 'transform', output: 1, next: 'e' },
        e: { type: 'transform', output: 2, next: 'd' },
      },
    });
    const { code, json } = await alloy('workflow', 'create', '--org', orgId, '--file', def);
    expect(code).toBe(1);
    expect(json.error.code).toBe('BAD_USER_INPUT');
    for (const problem of ['steps.a.url', 'steps.a.next', 'steps.a.timeoutMs', 'steps.b.type', 'steps.c.output']) {
      expect(json.error.message).toContain(problem);
    }
    // The loop d → e → d is listed with the other problems, not only once they are fixed.
    expect(json.error.message).toContain('the steps d → e → d form a loop through "next"');
    const loop = await alloy(
      'workflow',
      'create',
      '--org',
      orgId,
      '--file',
      file('loop.json', {
        name: 'loop',
        startStep: 'd',
        steps: { d: { type: 'transform', output: 1, next: 'e' }, e: { type: 'transform', output: 2, next: 'd' } },
      }),
    );
    expect(loop.json.error.message).toMatch(/loop/);
    expect(await count('workflows')).toBe(before);
  });

  it('reports an unreadable file, malformed JSON and an unknown organization clearly', async () => {
    const missing = await alloy('workflow', 'create', '--org', orgId, '--file', path.join(dir, 'nope.json'));
    expect(missing.json.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringContaining(': no such file') });
    const malformed = await alloy('workflow', 'create', '--org', orgId, '--file', file('broken.json', '{"name": '));
    expect(malformed.json.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringContaining('not valid JSON') });
    const def = file('ok.json', { name: 'ok', startStep: 'a', steps: { a: { type: 'transform', output: 1 } } });
    const noOrg = await alloy('workflow', 'create', '--org', '00000000-0000-4000-8000-000000000000', '--file', def);
    expect(noOrg.json.error.code).toBe('NOT_FOUND');
  });

  it('creates teammates with channels and refuses unknown channels and foreign workflows', async () => {
    const def = file('team.json', { name: 'team', startStep: 'a', steps: { a: { type: 'transform', output: 1 } } });
    const { workflowId } = (await alloy('workflow', 'create', '--org', orgId, '--file', def)).json;

    const withApi = await alloy(
      'teammate',
      'create',
      '--org',
      orgId,
      '--name',
      'Support bot',
      '--workflow',
      workflowId,
      '--channel',
      'API',
    );
    expect(withApi.code).toBe(0);
    expect(withApi.json).toEqual({ teammateId: expect.any(String), name: 'Support bot', channels: ['API'] });
    const [row] = await db.dataSource.query(`SELECT name, workflow_id, channels FROM teammates WHERE id = $1`, [withApi.json.teammateId]);
    expect(row).toEqual({ name: 'Support bot', workflow_id: workflowId, channels: ['API'] });

    const none = await alloy('teammate', 'create', '--org', orgId, '--name', 'Internal', '--workflow', workflowId);
    expect(none.json.channels).toEqual([]);

    const before = await count('teammates');
    const unknown = await alloy('teammate', 'create', '--org', orgId, '--name', 'X', '--workflow', workflowId, '--channel', 'FAX');
    expect(unknown.code).toBe(1);
    expect(unknown.json.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringContaining('FAX') });
    const { orgId: otherOrg } = (await alloy('org', 'create', 'Other CLI Org')).json;
    const foreign = await alloy('teammate', 'create', '--org', otherOrg, '--name', 'X', '--workflow', workflowId, '--channel', 'API');
    expect(foreign.json.error.code).toBe('WORKFLOW_NOT_FOUND');
    expect(await count('teammates')).toBe(before);
  });
});
