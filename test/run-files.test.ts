import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg, TestOrg } from './support/gateway';
import { startHookServer, HookServer, ReceivedHook } from './support/hook-server';
import { md5, uploadFile, expireVersionsAndAwaitDeletion } from './support/storage';
import { waitFor } from './support/poll';

const CALL = `mutation($id: ID!, $input: JSON!, $files: [String!], $wait: Int) {
  callTeammate(teammateId: $id, input: $input, files: $files, waitSeconds: $wait) {
    runId run { id status output error files { id path name contentType size md5 etag } }
  }
}`;
const TRIGGER = `mutation($id: ID!, $files: [String!]) {
  triggerWorkflow(workflowId: $id, payload: { n: 1 }, files: $files, waitSeconds: 10) { runId conversationId run { status output files { path md5 } } }
}`;

interface ContextFile {
  id: string;
  path: string;
  name: string;
  contentType: string;
  size: number;
  md5: string;
  downloadUrl: string;
}

describe('files handed to a call: a snapshot in the run, signed links in the step context', () => {
  let hooks: HookServer;
  const { gw, org } = useGatewayWithOrg({
    orgName: 'Run Files Org',
    storageDir: true,
    // Replaced objects are handed to deletion at once: only the run's hold keeps them.
    env: { STORAGE_DELETION_DELAY_SECONDS: '0' },
    beforeClose: () => hooks?.close(),
  });
  let workflowId: string;
  let teammateId: string;
  let other: TestOrg;
  let gate: Promise<void> | null = null;
  const A = Buffer.from('alpha bytes: the first file\n');
  const B = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));

  const call = (vars: Record<string, unknown>, apiKey = org.apiKey) =>
    graphql(gw.url, CALL, { id: teammateId, input: { text: 'read these' }, wait: 10, ...vars }, { apiKey });
  const hookOf = (runId: string): ReceivedHook => hooks.received.find((h) => h.body?.run?.id === runId)!;
  const counts = async () =>
    (
      await gw.db.query(
        `SELECT (SELECT count(*)::int FROM workflow_runs) AS runs, (SELECT count(*)::int FROM conversations) AS conversations`,
      )
    )[0];

  beforeAll(async () => {
    hooks = await startHookServer();
    // The teammate's service: fetches every file through its link, as a real one would, and reports what it got.
    hooks.route('/read', async (hook) => {
      if (gate) await gate;
      const got = [];
      for (const file of (hook.body.files ?? []) as ContextFile[]) {
        const response = await fetch(file.downloadUrl);
        const bytes = Buffer.from(await response.arrayBuffer());
        got.push({ path: file.path, status: response.status, md5: md5(bytes), size: bytes.length, bytes: bytes.toString('base64') });
      }
      return { status: 200, body: { got } };
    });
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'reader',
      startStep: 'read',
      steps: { read: { type: 'http', url: `${hooks.url}/read`, timeoutMs: 20_000 } },
    });
    workflowId = workflow.id;
    teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Reader', workflowId, channels: ['API'] })).id;
    for (const [name, bytes, type] of [
      ['a.txt', A, 'text/plain'],
      ['b.bin', B, 'application/octet-stream'],
    ] as const) {
      const res = await uploadFile(gw.url, org.apiKey, '/docs', name, bytes, { contentType: type });
      expect(res.body.errors).toBeUndefined();
    }
    gw.services.storage.keptObjectRecheckSeconds = 1;
    other = await gw.createOrg('Run Files Other Org');
    await uploadFile(gw.url, other.apiKey, '/theirs', 'secret.txt', 'not yours');
  });

  it('hands the step both files with signed links that serve their bytes, and records them with the run', async () => {
    const res = await call({ files: ['/docs/a.txt', '/docs/b.bin'] });
    expect(res.body.errors).toBeUndefined();
    const { runId, run } = res.body.data.callTeammate;
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output.got).toEqual([
      { path: '/docs/a.txt', status: 200, md5: md5(A), size: A.length, bytes: A.toString('base64') },
      { path: '/docs/b.bin', status: 200, md5: md5(B), size: B.length, bytes: B.toString('base64') },
    ]);
    const files: ContextFile[] = hookOf(runId).body.files;
    expect(files.map(({ downloadUrl: _url, id: _id, ...rest }) => rest)).toEqual([
      { path: '/docs/a.txt', name: 'a.txt', contentType: 'text/plain', size: A.length, md5: md5(A) },
      { path: '/docs/b.bin', name: 'b.bin', contentType: 'application/octet-stream', size: B.length, md5: md5(B) },
    ]);
    // Valid for at least the rest of the run: the step's timeout (20 s) plus 15 minutes.
    for (const file of files) {
      const expires = Number(new URL(file.downloadUrl).searchParams.get('expires'));
      expect(expires * 1000 - Date.now()).toBeGreaterThan(15 * 60 * 1000);
      expect(expires * 1000 - Date.now()).toBeLessThan(60 * 60 * 1000);
    }
    expect(run.files.map((f: { path: string; md5: string; size: number }) => [f.path, f.md5, f.size])).toEqual([
      ['/docs/a.txt', md5(A), A.length],
      ['/docs/b.bin', md5(B), B.length],
    ]);
    expect(run.files[0].id).toBe(files[0].id);
  });

  it('refuses a link whose signature or etag was changed', async () => {
    const { runId } = (await call({ files: ['/docs/a.txt'] })).body.data.callTeammate;
    const link = new URL((hookOf(runId).body.files as ContextFile[])[0].downloadUrl);
    const forged = new URL(link);
    forged.searchParams.set('etag', '0'.repeat(32));
    expect((await fetch(forged)).status).toBe(403);
    const tampered = new URL(link);
    tampered.searchParams.set('signature', `${link.searchParams.get('signature')!.slice(0, -2)}AA`);
    expect((await fetch(tampered)).status).toBe(403);
    // The etag is part of what is signed: without it the signature is no file-content signature.
    const withoutEtag = new URL(link);
    withoutEtag.searchParams.delete('etag');
    expect((await fetch(withoutEtag)).status).toBe(403);
  });

  it('gives the run the bytes as they were at its start, also when the file is overwritten while it runs', async () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    try {
      const started = await call({ files: ['/docs/a.txt'], wait: 0 });
      expect(started.body.errors).toBeUndefined();
      const { runId } = started.body.data.callTeammate;
      await waitFor(() => hooks.received.some((h) => h.body?.run?.id === runId), Boolean, 10_000, 'the run to reach its step');
      const overwritten = await uploadFile(gw.url, org.apiKey, '/docs', 'a.txt', 'new bytes, written while the run ran');
      expect(overwritten.body.errors).toBeUndefined();
      // The replaced content is kept as a version; expire it now (as the retention job does past
      // FILE_VERSIONS_KEEP and FILE_VERSION_DAYS), so that its object's deletion job runs while the run holds it.
      await expireVersionsAndAwaitDeletion(gw);
      release();
      const run = await waitFor(
        async () => gw.services.workflows.findRun(org.orgId, runId),
        (r) => r?.status === 'SUCCEEDED' || r?.status === 'FAILED',
        15_000,
        'the run to finish',
      );
      expect(run!.status).toBe('SUCCEEDED');
      expect((run!.output as { got: Array<{ md5: string; status: number }> }).got).toEqual([
        expect.objectContaining({ status: 200, md5: md5(A), bytes: A.toString('base64') }),
      ]);
      const view = await graphql(
        gw.url,
        `
          query ($id: ID!) {
            workflowRun(id: $id) {
              files {
                md5
                etag
              }
            }
          }
        `,
        { id: runId },
        { apiKey: org.apiKey },
      );
      expect(view.body.data.workflowRun.files[0].md5).toBe(md5(A));
      const now = await graphql(
        gw.url,
        `
          {
            file(path: "/docs/a.txt") {
              md5
              etag
            }
          }
        `,
        {},
        { apiKey: org.apiKey },
      );
      expect(now.body.data.file.md5).toBe(md5('new bytes, written while the run ran'));
      expect(view.body.data.workflowRun.files[0].etag).not.toBe(now.body.data.file.etag);
      // Once the run is over, the replaced object is deleted after all (its deletion is tried again), and the link says so.
      const link = (hookOf(runId).body.files as ContextFile[])[0].downloadUrl;
      const gone = await waitFor(
        async () => (await fetch(link)).status,
        (status) => status === 404,
        15_000,
        'the replaced object to be deleted once the run was over',
      );
      expect(gone).toBe(404);
    } finally {
      release?.();
      gate = null;
    }
  });

  it('refuses a path that is no file of the organization, or too many files, and starts nothing', async () => {
    const before = await counts();
    for (const path of ['/docs/missing.txt', '/docs', '/theirs/secret.txt', '/']) {
      const res = await call({ files: ['/docs/a.txt', path] });
      expect(errorCode(res)).toBe('NOT_FOUND');
      expect(res.body.data).toBeNull();
    }
    expect(errorCode(await call({ files: ['relative/path'] }))).toBe('INVALID_PATH');
    const tooMany = await call({ files: Array.from({ length: 21 }, (_, i) => `/docs/${i}.txt`) });
    expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
    expect(tooMany.body.errors![0].extensions!.argument).toBe('files');
    const triggered = await graphql(gw.url, TRIGGER, { id: workflowId, files: ['/nope.txt'] }, { apiKey: org.apiKey });
    expect(errorCode(triggered)).toBe('NOT_FOUND');
    expect(await counts()).toEqual(before);
  });

  it('hands files to triggerWorkflow runs too', async () => {
    const res = await graphql(gw.url, TRIGGER, { id: workflowId, files: ['/docs/b.bin'] }, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
    const { run, conversationId } = res.body.data.triggerWorkflow;
    expect(conversationId).toBeNull();
    expect(run.status).toBe('SUCCEEDED');
    expect(run.files).toEqual([{ path: '/docs/b.bin', md5: md5(B) }]);
    expect(run.output.got[0]).toMatchObject({ status: 200, md5: md5(B) });
    // A run without files gets none in its context, and lists none.
    const plain = await graphql(gw.url, TRIGGER, { id: workflowId }, { apiKey: org.apiKey });
    expect(plain.body.data.triggerWorkflow.run.files).toEqual([]);
    expect(hookOf(plain.body.data.triggerWorkflow.runId).body.files).toBeUndefined();
  });
});
