import fs from 'node:fs';
import { startGcsEmulator, GcsEmulatorHandle } from './support/gcs-emulator';
import { startTestGateway, TestGateway, TestOrg } from './support/gateway';
import { startHookServer, HookServer } from './support/hook-server';
import { graphql } from './support/http';
import { waitFor } from './support/poll';
import { md5, tempDir, uploadFile, writeFakeServiceAccount, expireVersionsAndAwaitDeletion } from './support/storage';

/**
 * Files handed to a run with the `gcs` driver (the real @google-cloud/storage client against the
 * emulator): the step's links are V4 signed URLs of the very object the run was given, which
 * outlives an overwrite while the run is active.
 */
describe('files handed to a call, gcs driver', () => {
  let emulator: GcsEmulatorHandle;
  let gw: TestGateway;
  let org: TestOrg;
  let hooks: HookServer;
  let dir: string;
  let previous: string | undefined;
  let teammateId: string;
  let gate: Promise<void> | null = null;
  const FIRST = Buffer.from('first version of the notes\n');

  beforeAll(async () => {
    emulator = await startGcsEmulator();
    dir = tempDir('alloy-run-files-gcs-');
    previous = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = writeFakeServiceAccount(dir);
    gw = await startTestGateway({ env: { STORAGE_DRIVER: 'gcs', GCS_BUCKET: 'alloy-run-files', STORAGE_DELETION_DELAY_SECONDS: '0' } });
    gw.services.storage.keptObjectRecheckSeconds = 1;
    org = await gw.createOrg('Run Files GCS');
    hooks = await startHookServer();
    hooks.route('/read', async (hook) => {
      if (gate) await gate;
      const got = [];
      for (const file of hook.body.files as Array<{ path: string; downloadUrl: string }>) {
        const response = await fetch(file.downloadUrl);
        const bytes = Buffer.from(await response.arrayBuffer());
        got.push({ path: file.path, status: response.status, md5: md5(bytes) });
      }
      return { status: 200, body: { got, links: hook.body.files.map((f: { downloadUrl: string }) => f.downloadUrl) } };
    });
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'reader',
      startStep: 'read',
      steps: { read: { type: 'http', url: `${hooks.url}/read` } },
    });
    teammateId = (await gw.services.teammates.createTeammate(org.orgId, { name: 'Reader', workflowId: workflow.id, channels: ['API'] })).id;
    expect((await uploadFile(gw.url, org.apiKey, '/notes', 'n.txt', FIRST)).body.errors).toBeUndefined();
  });

  afterAll(async () => {
    await hooks?.close();
    await gw?.close();
    await emulator?.stop();
    if (previous === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = previous;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the step a V4 signed URL of the object the run started with, valid for the rest of the run, kept over an overwrite', async () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    try {
      const res = await graphql(
        gw.url,
        'mutation($id: ID!, $files: [String!]) { callTeammate(teammateId: $id, input: "read", files: $files) { runId } }',
        { id: teammateId, files: ['/notes/n.txt'] },
        { apiKey: org.apiKey },
      );
      expect(res.body.errors).toBeUndefined();
      const { runId } = res.body.data.callTeammate;
      await waitFor(() => hooks.received.some((h) => h.body?.run?.id === runId), Boolean, 10_000, 'the step to start');
      const link = new URL(hooks.received.find((h) => h.body?.run?.id === runId)!.body.files[0].downloadUrl);
      expect(link.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
      // The step's timeout (10 s by default) plus 15 minutes.
      expect(Number(link.searchParams.get('X-Goog-Expires'))).toBeGreaterThanOrEqual(15 * 60 + 10);
      expect((await uploadFile(gw.url, org.apiKey, '/notes', 'n.txt', 'second version')).body.errors).toBeUndefined();
      // The replaced content is kept as a version; expire it now (as the retention job does past
      // FILE_VERSIONS_KEEP and FILE_VERSION_DAYS), so that its object's deletion job runs while the run holds it.
      await expireVersionsAndAwaitDeletion(gw);
      release();
      const run = await waitFor(
        () => gw.services.workflows.findRun(org.orgId, runId),
        (r) => r?.status === 'SUCCEEDED' || r?.status === 'FAILED',
        15_000,
        'the run to finish',
      );
      expect(run!.output).toMatchObject({ got: [{ path: '/notes/n.txt', status: 200, md5: md5(FIRST) }] });
      // After the run, the replaced object goes after all.
      await waitFor(
        async () => (await fetch(link)).status,
        (status) => status === 404,
        15_000,
        'the replaced object to be deleted once the run was over',
      );
    } finally {
      release?.();
      gate = null;
    }
  });
});
