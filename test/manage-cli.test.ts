import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/observability/logger';
import { RunExecutor } from '../src/workflows/run-executor';
import { useGatewayWithOrg } from './support/gateway';
import { HookServer, startHookServer } from './support/hook-server';
import { waitFor, nextMillisecond } from './support/poll';
import { errorCode, graphql } from './support/http';
import { uploadFile } from './support/storage';
import { runCli, runCliJson } from './support/process';

/**
 * Managing what the CLI creates: `alloy org list|rename|delete`, `alloy workflow
 * list|show|update|delete`, `alloy teammate list|update|delete`, each run as a real child process
 * against the database of a started gateway, and checked through that gateway's HTTP API.
 */

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

const TRIGGER =
  'mutation($id: ID!, $payload: JSON) { triggerWorkflow(workflowId: $id, payload: $payload) { runId run { workflowVersion } } }';
const CALL = 'mutation($id: ID!, $input: JSON!) { callTeammate(teammateId: $id, input: $input) { runId } }';
const RUN = `query($id: ID!) {
  workflowRun(id: $id) { id status output error workflowVersion workflow { id name version deletedAt definition } }
}`;

type Org = { orgId: string; apiKey: string; keyId: string };

describe('alloy org|workflow|teammate management (CLI, against a running gateway)', () => {
  let hooks: HookServer;
  let executor: RunExecutor;
  let dir: string;
  let other: Org;
  // Storage deletion jobs run in the gateway; the executor is this test's, so that one test can hold it back.
  const { gw, org } = useGatewayWithOrg({
    background: { workflows: false },
    env: { STORAGE_DELETION_DELAY_SECONDS: '0' },
    storageDir: true,
    orgName: 'Manage Org',
    beforeClose: () => executor?.stop(),
  });

  /** `alloy <args> --json`: exit code and the one JSON object it printed. */
  const alloy = (...args: string[]) =>
    runCliJson(args, { DATABASE_URL: gw.database.url, LOG_LEVEL: 'warn', STORAGE_DELETION_DELAY_SECONDS: '0' });
  const file = (name: string, content: unknown) => {
    const target = path.join(dir, name);
    fs.writeFileSync(target, typeof content === 'string' ? content : JSON.stringify(content));
    return target;
  };
  const as = (who: Org, query: string, variables: Record<string, unknown> = {}) =>
    graphql(gw.url, query, variables, { apiKey: who.apiKey });
  const createWorkflow = async (definition: unknown, owner = org) =>
    (await gw.services.workflows.createWorkflow(owner.orgId, definition)).workflow.id;
  const transform = (name: string, output: unknown) => ({ name, startStep: 's', steps: { s: { type: 'transform', output } } });
  const readRun = async (id: string, who = org) => (await as(who, RUN, { id })).body.data?.workflowRun;
  const finished = (id: string, who = org) =>
    waitFor(
      () => readRun(id, who),
      (run) => run?.status === 'SUCCEEDED' || run?.status === 'FAILED',
      30_000,
      `run ${id} to finish`,
    );
  const trigger = async (workflowId: string, payload: unknown = {}, who = org) => {
    const res = await as(who, TRIGGER, { id: workflowId, payload });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return res.body.data.triggerWorkflow.runId as string;
  };
  const workflowRow = async (id: string) =>
    (await gw.db.query(`SELECT name, version, definition, deleted_at, updated_at FROM workflows WHERE id = $1`, [id]))[0];
  const startExecutor = async () => {
    const started = new RunExecutor(gw.db, gw.services.runEvents, createLogger('silent'), {
      announcer: gw.services.runAnnouncer,
      leaseMs: 3000,
      concurrency: 2,
    });
    await started.start();
    return started;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-manage-'));
    hooks = await startHookServer();
    executor = await startExecutor();
    await nextMillisecond();
    other = await gw.createOrg('Other Manage Org');
  }, 120_000);
  afterAll(async () => {
    await hooks?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('alloy org', () => {
    it('org list prints every organization, oldest first, as { organizations: [{ orgId, name, createdAt }] }', async () => {
      const { code, json } = await alloy('org', 'list');
      expect(code).toBe(0);
      expect(Object.keys(json)).toEqual(['organizations']);
      const mine = json.organizations.filter((o: { orgId: string }) => [org.orgId, other.orgId].includes(o.orgId));
      expect(mine).toEqual([
        { orgId: org.orgId, name: 'Manage Org', createdAt: expect.stringMatching(ISO) },
        { orgId: other.orgId, name: 'Other Manage Org', createdAt: expect.stringMatching(ISO) },
      ]);
      const times = json.organizations.map((o: { createdAt: string }) => o.createdAt);
      expect(times).toEqual([...times].sort());
      for (const o of json.organizations) expect(Object.keys(o)).toEqual(['orgId', 'name', 'createdAt']);
    });

    it('org rename prints { orgId, name } and the running gateway answers the new name at once', async () => {
      const renamed = await gw.createOrg('Before Rename');
      // Warm the gateway's key cache with the old name.
      expect((await as(renamed, '{ organization { name } }')).body.data.organization.name).toBe('Before Rename');
      const { code, json } = await alloy('org', 'rename', renamed.orgId, '  After Rename  ');
      expect(code).toBe(0);
      expect(json).toEqual({ orgId: renamed.orgId, name: 'After Rename' });
      expect((await as(renamed, '{ organization { name } }')).body.data.organization.name).toBe('After Rename');
    });

    it.each([
      ['a blank name', () => ['org', 'rename', org.orgId, '   '], 'BAD_USER_INPUT'],
      ['a name over 200 characters', () => ['org', 'rename', org.orgId, 'x'.repeat(201)], 'BAD_USER_INPUT'],
      ['an unknown organization', () => ['org', 'rename', UNKNOWN_ID, 'X'], 'NOT_FOUND'],
      ['a malformed organization id', () => ['org', 'rename', 'acme', 'X'], 'NOT_FOUND'],
      ['delete of an unknown organization', () => ['org', 'delete', UNKNOWN_ID, '--yes'], 'NOT_FOUND'],
      ['delete of a malformed organization id', () => ['org', 'delete', "1' OR '1'='1", '--yes'], 'NOT_FOUND'],
    ])('org rename/delete with %s answers {error} and exit 1, changing nothing', async (_label, args, code) => {
      const before = await gw.db.query(`SELECT id, name FROM organizations ORDER BY id`);
      const result = await alloy(...args());
      expect(result.code).toBe(1);
      expect(result.json).toEqual({ error: { code, message: expect.any(String) } });
      expect(await gw.db.query(`SELECT id, name FROM organizations ORDER BY id`)).toEqual(before);
    });

    describe('org delete', () => {
      let doomed: Org;
      let survivor: Org;
      let doomedKeys: string[];
      let survivorKey: string;
      const rowsOf = async (orgId: string) => {
        const [row] = await gw.db.query(
          `SELECT (SELECT count(*) FROM organizations WHERE id = $1)::int AS organizations,
                  (SELECT count(*) FROM api_keys WHERE organization_id = $1)::int AS keys,
                  (SELECT count(*) FROM storage_entries WHERE organization_id = $1)::int AS entries,
                  (SELECT count(*) FROM storage_file_versions v JOIN storage_entries e ON e.id = v.file_id
                    WHERE e.organization_id = $1)::int AS file_versions,
                  (SELECT count(*) FROM workflows WHERE organization_id = $1)::int AS workflows,
                  (SELECT count(*) FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.organization_id = $1)::int AS versions,
                  (SELECT count(*) FROM workflow_runs WHERE organization_id = $1)::int AS runs,
                  (SELECT count(*) FROM workflow_idempotency_keys WHERE organization_id = $1)::int AS idempotency_keys,
                  (SELECT count(*) FROM teammates WHERE organization_id = $1)::int AS teammates`,
          [orgId],
        );
        return row;
      };
      /**
       * A tree with two files (one overwritten: a kept version; one in a folder in the trash), a
       * workflow with a teammate and two finished runs (one with an idempotency key).
       */
      const populate = async (who: Org) => {
        for (const [folder, name, bytes] of [
          ['/docs', 'a.txt', 'alpha'],
          ['/docs/deep', 'b.txt', 'bravo'],
        ]) {
          await as(who, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: folder });
          const uploaded = await uploadFile(gw.url, who.apiKey, folder, name, bytes);
          expect(uploaded.body.errors).toBeUndefined();
        }
        expect((await uploadFile(gw.url, who.apiKey, '/docs', 'a.txt', 'alpha 2')).body.errors).toBeUndefined();
        expect((await as(who, 'mutation { deleteEntry(path: "/docs/deep") { deletedFiles } }')).body.errors).toBeUndefined();
        const workflowId = await createWorkflow(transform('kept', 'done'), who);
        const teammate = await gw.services.teammates.createTeammate(who.orgId, { name: 'Doomed bot', workflowId, channels: ['API'] });
        const called = await as(who, CALL, { id: teammate.id, input: {} });
        const keyed = await as(who, 'mutation($id: ID!) { triggerWorkflow(workflowId: $id, idempotencyKey: "k1") { runId } }', {
          id: workflowId,
        });
        await finished(called.body.data.callTeammate.runId, who);
        await finished(keyed.body.data.triggerWorkflow.runId, who);
        const keys: Array<{ object_key: string }> = await gw.db.query(
          `SELECT object_key FROM storage_entries WHERE organization_id = $1 AND kind = 'file'
           UNION ALL SELECT v.object_key FROM storage_file_versions v JOIN storage_entries e ON e.id = v.file_id WHERE e.organization_id = $1`,
          [who.orgId],
        );
        expect(keys).toHaveLength(3);
        return keys.map((k) => path.join(gw.config.storageDir, k.object_key));
      };

      beforeAll(async () => {
        doomed = await gw.createOrg('Doomed Org');
        survivor = await gw.createOrg('Survivor Org');
        doomedKeys = await populate(doomed);
        [survivorKey] = await populate(survivor);
        for (const stored of [...doomedKeys, survivorKey]) expect(fs.existsSync(stored)).toBe(true);
      });

      it('without --yes refuses, says what it would remove and why, exit 1, and changes nothing', async () => {
        const before = await rowsOf(doomed.orgId);
        const { code, json } = await alloy('org', 'delete', doomed.orgId);
        expect(code).toBe(1);
        expect(json.error.code).toBe('USAGE_ERROR');
        expect(json.error.message).toMatch(/cannot be undone/);
        expect(json.error.message).toMatch(/--yes/);
        expect(json.error.message).toContain('1 API key, 2 files, 1 workflow, 2 runs, 1 teammate');
        expect(await rowsOf(doomed.orgId)).toEqual(before);
        expect((await as(doomed, '{ organization { id } }')).status).toBe(200);

        // Without --json: one line on stderr, nothing on stdout.
        const human = await runCli(['org', 'delete', doomed.orgId], { DATABASE_URL: gw.database.url, LOG_LEVEL: 'warn' });
        expect(human.code).toBe(1);
        expect(human.stdout).toBe('');
        expect(human.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^alloy: Deleting organization .* --yes/)]);
        expect(await rowsOf(doomed.orgId)).toEqual(before);
      });

      it('with --yes removes keys, tree, workflows, runs and teammates at once; its key answers 401 right away; its bytes go', async () => {
        // Warm the gateway's key cache, so that the 401 below comes from the invalidation, not a cache miss.
        expect((await as(doomed, '{ organization { id } }')).status).toBe(200);
        const survivorBefore = await rowsOf(survivor.orgId);

        const { code, json } = await alloy('org', 'delete', doomed.orgId, '--yes');
        expect(code).toBe(0);
        expect(json).toEqual({ orgId: doomed.orgId, deleted: true });

        const refused = await as(doomed, '{ organization { id } }');
        expect(refused.status).toBe(401);
        expect(errorCode(refused)).toBe('UNAUTHENTICATED');
        expect(await rowsOf(doomed.orgId)).toEqual({
          organizations: 0,
          keys: 0,
          entries: 0,
          file_versions: 0,
          workflows: 0,
          versions: 0,
          runs: 0,
          idempotency_keys: 0,
          teammates: 0,
        });
        // The deletion jobs sent with the delete remove the stored bytes.
        await waitFor(
          async () => doomedKeys.filter((stored) => fs.existsSync(stored)),
          (left) => left.length === 0,
          30_000,
          'the bytes to go',
        );

        // The other organization keeps everything.
        expect(await rowsOf(survivor.orgId)).toEqual(survivorBefore);
        expect(fs.existsSync(survivorKey)).toBe(true);
        const alive = await as(survivor, '{ organization { id } file(path: "/docs/a.txt") { size } }');
        expect(alive.body.data).toEqual({ organization: { id: survivor.orgId }, file: { size: 7 } }); // 'alpha 2'
        expect((await alloy('org', 'list')).json.organizations.map((o: { orgId: string }) => o.orgId)).not.toContain(doomed.orgId);
      });
    });
  });

  describe('alloy workflow', () => {
    it("workflow list prints the organization's workflows, oldest first, as { workflows: [{ workflowId, name, startable, createdAt, updatedAt }] }", async () => {
      const owner = await gw.createOrg('Listing Org');
      const first = await createWorkflow(transform('first', 1), owner);
      await nextMillisecond();
      const draft = await createWorkflow({ name: 'draft', steps: { s: { type: 'transform', output: 1 } } }, owner);
      const deleted = await createWorkflow(transform('deleted', 1), owner);
      await gw.admin.workflows.deleteWorkflow(deleted);
      await createWorkflow(transform('foreign', 1), other);

      const { code, json } = await alloy('workflow', 'list', '--org', owner.orgId);
      expect(code).toBe(0);
      expect(json).toEqual({
        workflows: [
          {
            workflowId: first,
            name: 'first',
            startable: true,
            createdAt: expect.stringMatching(ISO),
            updatedAt: expect.stringMatching(ISO),
          },
          {
            workflowId: draft,
            name: 'draft',
            startable: false,
            createdAt: expect.stringMatching(ISO),
            updatedAt: expect.stringMatching(ISO),
          },
        ],
      });
      expect(json.workflows[0].updatedAt).toBe(json.workflows[0].createdAt);
      expect((await alloy('workflow', 'list', '--org', (await gw.createOrg()).orgId)).json).toEqual({ workflows: [] });
      for (const orgId of [UNKNOWN_ID, 'acme']) {
        const missing = await alloy('workflow', 'list', '--org', orgId);
        expect(missing.code).toBe(1);
        expect(missing.json.error.code).toBe('NOT_FOUND');
      }
    });

    it('workflow show prints { workflowId, name, startable, definition } of any organization, and never the signing secret', async () => {
      const definition = {
        name: 'shown',
        startStep: 'call',
        steps: {
          call: { type: 'http', url: 'http://127.0.0.1:9/x', next: 'end' },
          end: { type: 'transform', output: { k: '{{payload.k}}' } },
        },
      };
      const created = await alloy('workflow', 'create', '--org', other.orgId, '--file', file('shown.json', definition));
      const { signingSecret, workflowId } = created.json;
      const rotated = await alloy('workflow', 'rotate-secret', workflowId, '--keep-previous', '60');

      const shown = await alloy('workflow', 'show', workflowId);
      expect(shown.code).toBe(0);
      expect(shown.json).toEqual({ workflowId, name: 'shown', startable: true, definition });
      const human = await runCli(['workflow', 'show', workflowId], { DATABASE_URL: gw.database.url, LOG_LEVEL: 'warn' });
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('"http://127.0.0.1:9/x"');
      for (const secret of [signingSecret, rotated.json.signingSecret]) {
        expect(secret).toMatch(/^alloy_whsec_/);
        for (const output of [shown.stdout, shown.stderr, human.stdout, human.stderr]) expect(output).not.toContain(secret);
      }
      expect(shown.stdout + human.stdout).not.toMatch(/alloy_whsec_|signing/i);

      for (const id of [UNKNOWN_ID, 'not-a-uuid']) {
        const missing = await alloy('workflow', 'show', id);
        expect(missing.code).toBe(1);
        expect(missing.json.error.code).toBe('WORKFLOW_NOT_FOUND');
      }
    });

    it('workflow update refuses a bad definition listing every problem, and an unknown workflow, changing nothing', async () => {
      const workflowId = await createWorkflow(transform('stable', 'v1'));
      const before = await workflowRow(workflowId);
      const bad = file('bad-update.json', {
        name: '',
        startStep: 'a',
        steps: {
          a: { type: 'http', url: 'ftp://x', next: 'nowhere' },
          b: { type: 'script' },
          c: { type: 'transform', output: '{{env.X}}' },
        },
      });
      const refused = await alloy('workflow', 'update', workflowId, '--file', bad);
      expect(refused.code).toBe(1);
      expect(refused.json.error.code).toBe('BAD_USER_INPUT');
      for (const problem of ['name:', 'steps.a.url', 'steps.a.next', 'steps.b.type', 'steps.c.output'])
        expect(refused.json.error.message).toContain(problem);

      const missingFile = await alloy('workflow', 'update', workflowId, '--file', path.join(dir, 'absent.json'));
      expect(missingFile.json.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringContaining(': no such file') });
      const malformed = await alloy('workflow', 'update', workflowId, '--file', file('half.json', '{"name":'));
      expect(malformed.json.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringContaining('not valid JSON') });
      const good = file('good.json', transform('renamed', 'v2'));
      for (const id of [UNKNOWN_ID, 'nope']) {
        const missing = await alloy('workflow', 'update', id, '--file', good);
        expect(missing.code).toBe(1);
        expect(missing.json.error.code).toBe('WORKFLOW_NOT_FOUND');
      }
      expect(await workflowRow(workflowId)).toEqual(before);
      const [{ n }] = await gw.db.query(`SELECT count(*)::int AS n FROM workflow_versions WHERE workflow_id = $1`, [workflowId]);
      expect(n).toBe(1);
    });

    it('workflow update prints { workflowId, name, startable }; the API answers the new definition and version; a draft is not startable', async () => {
      const workflowId = await createWorkflow(transform('before', 'v1'));
      const before = await workflowRow(workflowId);
      const updated = await alloy('workflow', 'update', workflowId, '--file', file('after.json', transform('after', 'v2')));
      expect(updated.code).toBe(0);
      expect(updated.json).toEqual({ workflowId, name: 'after', startable: true });
      const read = await as(org, 'query($id: ID!) { workflow(id: $id) { name version definition startable updatedAt createdAt } }', {
        id: workflowId,
      });
      expect(read.body.data.workflow).toMatchObject({ name: 'after', version: 2, definition: transform('after', 'v2'), startable: true });
      expect(new Date(read.body.data.workflow.updatedAt).getTime()).toBeGreaterThan(before.updated_at.getTime());
      const runId = await trigger(workflowId);
      expect(await finished(runId)).toMatchObject({ status: 'SUCCEEDED', output: 'v2', workflowVersion: 2 });

      const draft = await alloy(
        'workflow',
        'update',
        workflowId,
        '--file',
        file('draft.json', { name: 'draft', steps: { s: { type: 'transform', output: 1 } } }),
      );
      expect(draft.json).toEqual({ workflowId, name: 'draft', startable: false });
      expect(errorCode(await as(org, TRIGGER, { id: workflowId }))).toBe('WORKFLOW_NOT_STARTABLE');
      // Another organization cannot see or start it, updated or not.
      expect((await as(other, 'query($id: ID!) { workflow(id: $id) { id } }', { id: workflowId })).body).toEqual({
        data: { workflow: null },
      });
    });

    it('a run running while its workflow is updated finishes with the definition it started with, also in another worker; a run triggered after uses the new one', async () => {
      const { entered: inStep, release } = hooks.hold('/held', { status: 200, body: { from: 'hook' } });
      const workflowId = await createWorkflow({
        name: 'old steps',
        startStep: 'held',
        steps: {
          held: { type: 'http', url: `${hooks.url}/held`, next: 'finish' },
          finish: { type: 'transform', output: { definition: 'old', hook: '{{steps.held.output.from}}' } },
        },
      });
      const running = await trigger(workflowId);
      await inStep;
      expect((await readRun(running)).status).toBe('RUNNING');

      // New steps with other ids: the old run could not go on with these.
      const updated = await alloy(
        'workflow',
        'update',
        workflowId,
        '--file',
        file('new-steps.json', {
          name: 'new steps',
          startStep: 'fresh',
          steps: { fresh: { type: 'transform', output: { definition: 'new' } } },
        }),
      );
      expect(updated.json).toEqual({ workflowId, name: 'new steps', startable: true });

      // The worker stops: the held step finishes and the run goes back to the queue at "finish",
      // so that another worker claims it again, after the update.
      const stopping = executor.stop();
      release();
      await stopping;
      expect((await readRun(running)).status).toBe('QUEUED');
      executor = await startExecutor();

      const old = await finished(running);
      expect(old).toMatchObject({ status: 'SUCCEEDED', error: null, output: { definition: 'old', hook: 'hook' }, workflowVersion: 1 });
      // The run's workflow is the workflow as it is now.
      expect(old.workflow).toMatchObject({ id: workflowId, name: 'new steps', version: 2 });

      const after = await trigger(workflowId);
      expect(await finished(after)).toMatchObject({ status: 'SUCCEEDED', output: { definition: 'new' }, workflowVersion: 2 });
    });

    it('a run still queued when the workflow is updated runs the version it was started with too', async () => {
      const workflowId = await createWorkflow(transform('queued', 'old'));
      await executor.stop();
      let queued: string;
      try {
        queued = await trigger(workflowId);
        const updated = await alloy(
          'workflow',
          'update',
          workflowId,
          '--file',
          file('queued-new.json', {
            name: 'queued',
            startStep: 'other',
            steps: { other: { type: 'transform', output: 'new' } },
          }),
        );
        expect(updated.code).toBe(0);
        expect((await readRun(queued)).status).toBe('QUEUED');
      } finally {
        executor = await startExecutor();
      }
      expect(await finished(queued)).toMatchObject({ status: 'SUCCEEDED', output: 'old', workflowVersion: 1 });
    });

    describe('workflow delete', () => {
      let workflowId: string;
      let spare: string;
      let users: Array<{ id: string; name: string }>;
      let oldRun: string;
      let teammateRun: string;

      beforeAll(async () => {
        workflowId = await createWorkflow(transform('to delete', 'deleted output'));
        spare = await createWorkflow(transform('spare', 'spare output'));
        users = [];
        for (const name of ['First user', 'Second user']) {
          users.push(await gw.services.teammates.createTeammate(org.orgId, { name, workflowId, channels: ['API'] }));
        }
        oldRun = await trigger(workflowId);
        teammateRun = (await as(org, CALL, { id: users[0].id, input: { asked: 'before' } })).body.data.callTeammate.runId;
        await finished(oldRun);
        await finished(teammateRun);
      });

      it('is refused while teammates run it, naming each (name and id) in one error, and changes nothing', async () => {
        const before = await workflowRow(workflowId);
        const { code, json } = await alloy('workflow', 'delete', workflowId);
        expect(code).toBe(1);
        expect(json.error.code).toBe('WORKFLOW_IN_USE');
        for (const user of users) {
          expect(json.error.message).toContain(user.name);
          expect(json.error.message).toContain(user.id);
        }
        expect(await workflowRow(workflowId)).toEqual(before);
        expect(await finished(await trigger(workflowId))).toMatchObject({ status: 'SUCCEEDED' });

        // A deleted teammate does not hold it; one still does.
        expect((await alloy('teammate', 'delete', users[1].id)).code).toBe(0);
        const still = await alloy('workflow', 'delete', workflowId);
        expect(still.json.error.code).toBe('WORKFLOW_IN_USE');
        expect(still.json.error.message).toContain(users[0].id);
        expect(still.json.error.message).not.toContain(users[1].id);
      });

      it('prints { workflowId, deleted: true }; triggers answer WORKFLOW_NOT_FOUND; its runs and request logs stay readable', async () => {
        // The remaining teammate moves to another workflow; its request logs ran on this one.
        expect((await alloy('teammate', 'update', users[0].id, '--workflow', spare)).code).toBe(0);
        const { code, json } = await alloy('workflow', 'delete', workflowId);
        expect(code).toBe(0);
        expect(json).toEqual({ workflowId, deleted: true });

        expect(errorCode(await as(org, TRIGGER, { id: workflowId }))).toBe('WORKFLOW_NOT_FOUND');
        expect((await as(org, 'query($id: ID!) { workflow(id: $id) { id } }', { id: workflowId })).body).toEqual({
          data: { workflow: null },
        });
        const listed = await as(org, '{ workflows(first: 100) { totalCount edges { node { id } } } }');
        expect(listed.body.data.workflows.edges.map((e: any) => e.node.id)).not.toContain(workflowId);
        expect((await alloy('workflow', 'list', '--org', org.orgId)).json.workflows.map((w: any) => w.workflowId)).not.toContain(
          workflowId,
        );

        for (const runId of [oldRun, teammateRun]) {
          const run = await readRun(runId);
          expect(run).toMatchObject({ id: runId, status: 'SUCCEEDED', output: 'deleted output' });
          expect(run.workflow).toMatchObject({ id: workflowId, name: 'to delete', deletedAt: expect.stringMatching(ISO) });
        }
        const logs = await as(
          org,
          `query($id: ID!) { teammate(id: $id) { workflow { id } requestLogs { totalCount edges { node { runId status request response } } } } }`,
          { id: users[0].id },
        );
        expect(logs.body.errors).toBeUndefined();
        expect(logs.body.data.teammate.workflow).toEqual({ id: spare });
        expect(logs.body.data.teammate.requestLogs.edges).toEqual([
          { node: { runId: teammateRun, status: 'SUCCEEDED', request: { asked: 'before' }, response: 'deleted output' } },
        ]);
        // The teammate now runs the spare workflow.
        const moved = (await as(org, CALL, { id: users[0].id, input: {} })).body.data.callTeammate.runId;
        expect(await finished(moved)).toMatchObject({ output: 'spare output', workflow: { id: spare } });
      });

      it('a deleted workflow cannot be shown, updated, rotated, deleted again or given to a teammate', async () => {
        const counts = async () =>
          (
            await gw.db.query(
              `SELECT (SELECT count(*) FROM teammates)::int AS teammates, (SELECT count(*) FROM workflow_versions)::int AS versions`,
            )
          )[0];
        const before = await counts();
        const definition = file('revive.json', transform('revived', 1));
        for (const args of [
          ['workflow', 'show', workflowId],
          ['workflow', 'update', workflowId, '--file', definition],
          ['workflow', 'rotate-secret', workflowId],
          ['workflow', 'delete', workflowId],
          ['teammate', 'create', '--org', org.orgId, '--name', 'Late', '--workflow', workflowId],
          ['teammate', 'update', users[0].id, '--workflow', workflowId],
        ]) {
          const result = await alloy(...args);
          expect([args.slice(0, 2).join(' '), result.code, result.json.error?.code]).toEqual([
            args.slice(0, 2).join(' '),
            1,
            'WORKFLOW_NOT_FOUND',
          ]);
        }
        expect(await counts()).toEqual(before);
        expect((await workflowRow(workflowId)).name).toBe('to delete');
      });

      it('racing a teammate onto the workflow, exactly one of the two wins: never a live teammate on a deleted workflow', async () => {
        for (let i = 0; i < 15; i++) {
          const raced = await createWorkflow(transform(`raced ${i}`, i));
          const parked =
            i % 2 ? (await gw.services.teammates.createTeammate(org.orgId, { name: 'Parked', workflowId: spare, channels: [] })).id : null;
          const [deleted, joined] = await Promise.allSettled([
            gw.admin.workflows.deleteWorkflow(raced),
            parked
              ? gw.admin.teammates.updateTeammate(parked, { workflowId: raced })
              : gw.services.teammates.createTeammate(org.orgId, { name: 'Racer', workflowId: raced, channels: ['API'] }),
          ]);
          const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code);
          const outcome = `${codeOf(deleted)}/${codeOf(joined)}`;
          expect(['ok/WORKFLOW_NOT_FOUND', 'WORKFLOW_IN_USE/ok']).toContain(outcome);
          const [{ n }] = await gw.db.query(
            `SELECT count(*)::int AS n FROM teammates t JOIN workflows w ON w.id = t.workflow_id
              WHERE w.id = $1 AND w.deleted_at IS NOT NULL AND t.deleted_at IS NULL`,
            [raced],
          );
          expect(n).toBe(0);
        }
      });

      it('unknown and malformed ids answer WORKFLOW_NOT_FOUND', async () => {
        for (const id of [UNKNOWN_ID, 'x']) expect((await alloy('workflow', 'delete', id)).json.error.code).toBe('WORKFLOW_NOT_FOUND');
      });
    });
  });

  describe('alloy teammate', () => {
    let workflowId: string;
    let otherWorkflowId: string;
    beforeAll(async () => {
      workflowId = await createWorkflow(transform('teammate work', { said: '{{payload.text}}' }));
      otherWorkflowId = await createWorkflow(transform('other work', 'other'));
    });

    it('teammate list prints { teammates: [{ teammateId, name, channels, workflowId }] }, oldest first, without deleted or foreign ones', async () => {
      const owner = await gw.createOrg('Teammate Listing');
      const ownWorkflow = await createWorkflow(transform('w', 1), owner);
      const a = await gw.services.teammates.createTeammate(owner.orgId, { name: 'A', workflowId: ownWorkflow, channels: ['API'] });
      await nextMillisecond();
      const b = await gw.services.teammates.createTeammate(owner.orgId, { name: 'B', workflowId: ownWorkflow, channels: [] });
      const gone = await gw.services.teammates.createTeammate(owner.orgId, { name: 'Gone', workflowId: ownWorkflow, channels: [] });
      await gw.admin.teammates.deleteTeammate(gone.id);
      await gw.services.teammates.createTeammate(org.orgId, { name: 'Foreign', workflowId, channels: [] });

      const { code, json } = await alloy('teammate', 'list', '--org', owner.orgId);
      expect(code).toBe(0);
      expect(json).toEqual({
        teammates: [
          { teammateId: a.id, name: 'A', channels: ['API'], workflowId: ownWorkflow },
          { teammateId: b.id, name: 'B', channels: [], workflowId: ownWorkflow },
        ],
      });
      expect((await as(owner, '{ teammates { totalCount edges { node { id } } } }')).body.data.teammates).toEqual({
        totalCount: 2,
        edges: [{ node: { id: a.id } }, { node: { id: b.id } }],
      });
      for (const orgId of [UNKNOWN_ID, 'acme']) expect((await alloy('teammate', 'list', '--org', orgId)).json.error.code).toBe('NOT_FOUND');
    });

    it('teammate update turns the API channel on for a teammate created without it, and off again with --channels ""', async () => {
      const created = await alloy('teammate', 'create', '--org', org.orgId, '--name', 'Late starter', '--workflow', workflowId);
      const teammateId = created.json.teammateId;
      expect(errorCode(await as(org, CALL, { id: teammateId, input: { text: 'hi' } }))).toBe('CHANNEL_DISABLED');

      const on = await alloy('teammate', 'update', teammateId, '--channels', 'api');
      expect(on.code).toBe(0);
      expect(on.json).toEqual({ teammateId, name: 'Late starter', channels: ['API'] });
      const call = await as(org, CALL, { id: teammateId, input: { text: 'hi' } });
      expect(call.body.errors).toBeUndefined();
      expect(await finished(call.body.data.callTeammate.runId)).toMatchObject({ status: 'SUCCEEDED', output: { said: 'hi' } });

      const off = await alloy('teammate', 'update', teammateId, '--channels', '');
      expect(off.json).toEqual({ teammateId, name: 'Late starter', channels: [] });
      expect(errorCode(await as(org, CALL, { id: teammateId, input: {} }))).toBe('CHANNEL_DISABLED');
    });

    it('teammate update changes only what it is given: name, and workflow (its calls then run the new one)', async () => {
      const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Mover', workflowId, channels: ['API'] });
      const renamed = await alloy('teammate', 'update', teammate.id, '--name', '  Renamed mover ');
      expect(renamed.json).toEqual({ teammateId: teammate.id, name: 'Renamed mover', channels: ['API'] });
      const moved = await alloy('teammate', 'update', teammate.id, '--workflow', otherWorkflowId);
      expect(moved.json).toEqual({ teammateId: teammate.id, name: 'Renamed mover', channels: ['API'] });
      const [row] = await gw.db.query(`SELECT name, workflow_id, channels FROM teammates WHERE id = $1`, [teammate.id]);
      expect(row).toEqual({ name: 'Renamed mover', workflow_id: otherWorkflowId, channels: ['API'] });
      const runId = (await as(org, CALL, { id: teammate.id, input: {} })).body.data.callTeammate.runId;
      expect(await finished(runId)).toMatchObject({ output: 'other', workflow: { id: otherWorkflowId } });
    });

    it('teammate update refuses bad input, foreign workflows and unknown teammates, changing nothing', async () => {
      const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Steady', workflowId, channels: ['API'] });
      const foreignWorkflow = await createWorkflow(transform('foreign', 1), other);
      const foreignTeammate = await gw.services.teammates.createTeammate(other.orgId, {
        name: 'Theirs',
        workflowId: foreignWorkflow,
        channels: [],
      });
      const snapshot = async () => gw.db.query(`SELECT id, name, workflow_id, channels, deleted_at FROM teammates ORDER BY id`);
      const before = await snapshot();
      for (const [args, code, message] of [
        [['teammate', 'update', teammate.id], 'BAD_USER_INPUT', /Nothing to change/],
        [['teammate', 'update', teammate.id, '--name', '  '], 'BAD_USER_INPUT', /name/],
        [['teammate', 'update', teammate.id, '--channels', 'API,FAX', '--name', 'Never'], 'BAD_USER_INPUT', /FAX/],
        [['teammate', 'update', teammate.id, '--workflow', foreignWorkflow, '--name', 'Never'], 'WORKFLOW_NOT_FOUND', /Workflow/],
        [['teammate', 'update', foreignTeammate.id, '--workflow', workflowId], 'WORKFLOW_NOT_FOUND', /Workflow/],
        [['teammate', 'update', teammate.id, '--workflow', 'nope'], 'WORKFLOW_NOT_FOUND', /Workflow/],
        [['teammate', 'update', UNKNOWN_ID, '--name', 'X'], 'NOT_FOUND', /Teammate/],
        [['teammate', 'update', 'nope', '--name', 'X'], 'NOT_FOUND', /Teammate/],
      ] as Array<[string[], string, RegExp]>) {
        const result = await alloy(...args);
        expect([args.join(' '), result.code, result.json.error?.code]).toEqual([args.join(' '), 1, code]);
        expect(result.json.error.message).toMatch(message);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('teammate delete prints { teammateId, deleted: true }; callTeammate then answers NOT_FOUND; its runs stay readable', async () => {
      const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Leaving', workflowId, channels: ['API'] });
      const runId = (await as(org, CALL, { id: teammate.id, input: { text: 'last words' } })).body.data.callTeammate.runId;
      await finished(runId);

      const { code, json } = await alloy('teammate', 'delete', teammate.id);
      expect(code).toBe(0);
      expect(json).toEqual({ teammateId: teammate.id, deleted: true });

      expect(errorCode(await as(org, CALL, { id: teammate.id, input: {} }))).toBe('NOT_FOUND');
      expect((await as(org, 'query($id: ID!) { teammate(id: $id) { id } }', { id: teammate.id })).body).toEqual({
        data: { teammate: null },
      });
      const listed = await as(org, '{ teammates(first: 100) { edges { node { id } } } }');
      expect(listed.body.data.teammates.edges.map((e: any) => e.node.id)).not.toContain(teammate.id);
      expect((await alloy('teammate', 'list', '--org', org.orgId)).json.teammates.map((t: any) => t.teammateId)).not.toContain(teammate.id);
      expect(await readRun(runId)).toMatchObject({
        id: runId,
        status: 'SUCCEEDED',
        output: { said: 'last words' },
        workflow: { id: workflowId },
      });
      const [row] = await gw.db.query(`SELECT teammate_id FROM workflow_runs WHERE id = $1`, [runId]);
      expect(row.teammate_id).toBe(teammate.id);

      for (const id of [teammate.id, UNKNOWN_ID, 'nope']) {
        const again = await alloy('teammate', 'delete', id);
        expect([id, again.code, again.json.error?.code]).toEqual([id, 1, 'NOT_FOUND']);
      }
      expect((await alloy('teammate', 'update', teammate.id, '--name', 'Back')).json.error.code).toBe('NOT_FOUND');
    });
  });
});
