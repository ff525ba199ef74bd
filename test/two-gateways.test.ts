import { Client } from 'pg';
import { STORAGE_TREE_CHANNEL } from '../src/storage/folder-cache';
import { startChildGateway, ChildGateway } from './support/process';
import { useGatewayWithOrg } from './support/gateway';
import { errorCode, graphql } from './support/http';
import { filesUnder, md5, uploadFile } from './support/storage';
import { waitFor } from './support/poll';

/**
 * Two gateway processes on one database and one storage directory, as a scaled-out deployment
 * runs: A in this process (with the workflow worker), B a child process (`alloy serve --no-worker`).
 * Requests that race each other are spread across both, and the outcome must be consistent.
 */

// Replaced objects are deleted as soon as their job runs, so the test can see the end state.
const env = { STORAGE_DRIVER: 'disk', STORAGE_DELETION_DELAY_SECONDS: '0' };
let b: ChildGateway;
let exit: number | null | undefined;
const { gw: a, org } = useGatewayWithOrg({ env, storageDir: true, beforeClose: async () => (exit = await b?.stop()) });

beforeAll(async () => {
  b = await startChildGateway(a.database.url, { ...env, STORAGE_DIR: a.config.storageDir });
}, 120_000);

afterAll(() => expect(exit).toBe(0));

const gateways = () => [a.url, b.url];

describe('two gateways on one database and one storage', () => {
  it('ends concurrent same-path uploads through both with exactly one file (its 19 other contents kept as versions), read alike by both', async () => {
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`upload ${i} `.repeat(500 + i * 37)));
    const results = await Promise.all(
      contents.map((bytes, i) => uploadFile(gateways()[i % 2], org.apiKey, '/race/deep', 'same.txt', bytes)),
    );

    const answered = new Set<string>();
    for (const res of results) {
      expect(res.body.errors).toBeUndefined();
      answered.add(res.body.data.uploadFile.id);
    }
    expect(answered.size).toBe(1); // every overwrite kept the one file's id

    const rows: Array<{ id: string; md5: string; size: number; object_key: string }> = await a.db.query(
      `SELECT id, md5, size::int AS size, object_key FROM storage_entries WHERE organization_id = $1 AND kind = 'file'`,
      [org.orgId],
    );
    expect(rows).toHaveLength(1);
    const [file] = rows;
    const winner = contents.find((bytes) => md5(bytes) === file.md5);
    expect(winner).toBeDefined();
    expect(file.size).toBe(winner!.length);

    for (const url of gateways()) {
      const res = await fetch(`${url}/files/${file.id}/content`, { headers: { 'api-key': org.apiKey } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(winner!)).toBe(true);
      const meta = await graphql(
        url,
        `
          {
            file(path: "/race/deep/same.txt") {
              id
              md5
              size
            }
          }
        `,
        {},
        { apiKey: org.apiKey },
      );
      expect(meta.body.data.file).toEqual({ id: file.id, md5: file.md5, size: winner!.length });
    }

    // The 19 replaced contents are the file's versions, each with its own object; nothing else is stored or pending.
    const objectsOfOrg = () => filesUnder(a.config.storageDir).filter((f) => f.startsWith(org.orgId));
    expect(await a.services.storage.sweepOrphans(0)).toBe(0);
    const versions: Array<{ object_key: string }> = await a.db.query(`SELECT object_key FROM storage_file_versions WHERE file_id = $1`, [
      file.id,
    ]);
    expect(versions).toHaveLength(19);
    expect(objectsOfOrg().sort()).toEqual([file.object_key, ...versions.map((v) => v.object_key)].sort());
    expect((await a.db.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n).toBe(0);
  });

  it('lets at most one of two opposite folder moves through, and never builds a cycle', async () => {
    const move = `mutation($path: String!, $to: String!) { moveEntry(path: $path, to: $to) { id } }`;
    let successes = 0;
    for (let round = 0; round < 10; round++) {
      const base = `/moves-${round}`;
      const ids: string[] = [];
      for (const folder of ['x', 'y']) {
        const made = await graphql(
          a.url,
          `
            mutation ($p: String!) {
              createFolder(path: $p) {
                id
              }
            }
          `,
          { p: `${base}/${folder}` },
          { apiKey: org.apiKey },
        );
        expect(made.body.errors).toBeUndefined();
        ids.push(made.body.data.createFolder.id);
      }
      const [xIntoY, yIntoX] = await Promise.all([
        graphql(a.url, move, { path: `${base}/x`, to: `${base}/y` }, { apiKey: org.apiKey }),
        graphql(b.url, move, { path: `${base}/y`, to: `${base}/x` }, { apiKey: org.apiKey }),
      ]);
      const outcomes = [xIntoY, yIntoX].map((res) => (res.body.errors ? errorCode(res) : 'MOVED'));
      expect(outcomes.filter((o) => o === 'MOVED').length).toBeLessThanOrEqual(1);
      for (const outcome of outcomes) expect(['MOVED', 'INVALID_MOVE', 'NOT_FOUND']).toContain(outcome);
      successes += outcomes.filter((o) => o === 'MOVED').length;

      // From both folders, parent pointers reach the root (a cycle would never reach parent NULL).
      const walks: Array<{ start: string; reaches_root: boolean }> = await a.db.query(
        `WITH RECURSIVE up AS (
           SELECT id AS start, id, parent_id, 0 AS depth FROM storage_entries WHERE id = ANY($1::uuid[])
           UNION ALL
           SELECT up.start, p.id, p.parent_id, up.depth + 1 FROM up JOIN storage_entries p ON p.id = up.parent_id WHERE up.depth < 100
         )
         SELECT start, bool_or(parent_id IS NULL) AS reaches_root FROM up GROUP BY start`,
        [ids],
      );
      expect(walks).toHaveLength(2);
      for (const walk of walks) expect(walk.reaches_root).toBe(true);
    }
    expect(successes).toBeGreaterThan(0);
  });

  it('starts one run for 20 concurrent triggers with one idempotencyKey spread across both', async () => {
    const { workflow } = await a.services.workflows.createWorkflow(org.orgId, {
      name: 'once across gateways',
      startStep: 's',
      steps: { s: { type: 'transform', output: '{{payload.n}}' } },
    });
    const trigger = `mutation($id: ID!, $payload: JSON, $key: String) { triggerWorkflow(workflowId: $id, payload: $payload, idempotencyKey: $key) { runId } }`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(gateways()[i % 2], trigger, { id: workflow.id, payload: { n: 1 }, key: 'spread-key' }, { apiKey: org.apiKey }),
      ),
    );
    for (const res of results) expect(res.body.errors).toBeUndefined();
    const runIds = new Set(results.map((res) => res.body.data.triggerWorkflow.runId));
    expect(runIds.size).toBe(1);
    const runs = await a.db.query(`SELECT id FROM workflow_runs WHERE workflow_id = $1`, [workflow.id]);
    expect(runs).toEqual([{ id: [...runIds][0] }]);
  });
});

describe('folder listings across two gateways', () => {
  const LIST = `query($p: String!) { folder(path: $p) { id children(first: 100) { totalCount edges { node { path } } } } }`;
  const list = async (url: string, path: string): Promise<{ id: string; paths: string[]; totalCount: number } | null> => {
    const res = await graphql(url, LIST, { p: path }, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
    const folder = res.body.data.folder;
    return folder && { id: folder.id, totalCount: folder.children.totalCount, paths: folder.children.edges.map((e: any) => e.node.path) };
  };
  const mutate = async (url: string, mutation: string) => {
    const res = await graphql(url, `mutation { ${mutation} }`, {}, { apiKey: org.apiKey });
    expect(res.body.errors).toBeUndefined();
  };

  /**
   * Resolves when gateway A's LISTEN connection has delivered a tree change of the organization.
   * A's folder cache subscribed to the channel when A started, so it has forgotten the
   * organization's paths by then (handlers run in subscription order, in the same tick).
   */
  const treeChangeReachesA = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no tree change notification within 5 s')), 5000);
      const subscription = a.services.notifications.subscribe(STORAGE_TREE_CHANNEL, {
        onMessage(payload) {
          if (payload !== org.orgId) return;
          clearTimeout(timer);
          subscription.close();
          resolve();
        },
      });
    });

  /** Storage statements gateway A runs while `work` runs. */
  async function storageStatementsOfA(work: () => Promise<unknown>): Promise<number> {
    let count = 0;
    const logger = a.db.logger;
    const original = logger.logQuery.bind(logger);
    logger.logQuery = (query, parameters, runner) => {
      if (/storage_entries/.test(query)) count++;
      return original(query, parameters, runner);
    };
    try {
      await work();
    } finally {
      logger.logQuery = original;
    }
    return count;
  }

  beforeAll(async () => {
    await mutate(a.url, 'createFolder(path: "/tree/docs/sub") { id }');
    for (const [folder, name] of [
      ['/tree/docs/sub', 'a.txt'],
      ['/tree/docs', 'b.txt'],
    ]) {
      expect((await uploadFile(a.url, org.apiKey, folder, name, name)).body.errors).toBeUndefined();
    }
    // The uploads' text extraction jobs read storage_entries too: done before A's statements are counted.
    await waitFor(
      async () => (await a.db.query(`SELECT count(*)::int AS n FROM storage_texts WHERE status = 'PENDING'`))[0].n,
      (pending) => pending === 0,
      30_000,
      'the text extraction of the uploads',
    );
  });

  it('lists rightly on A right after a rename, a move and a delete made through B, and A had served the paths from its cache', async () => {
    for (const url of gateways()) {
      expect((await list(url, '/tree/docs'))!.paths).toEqual(['/tree/docs/sub', '/tree/docs/b.txt']);
      expect((await list(url, '/tree/docs/sub'))!.paths).toEqual(['/tree/docs/sub/a.txt']);
    }
    // The cache is in use: A finds a folder it has seen without a statement.
    expect(
      await storageStatementsOfA(() => graphql(a.url, '{ folder(path: "/tree/docs/sub") { id name } }', {}, { apiKey: org.apiKey })),
    ).toBe(0);

    let changed = treeChangeReachesA();
    await mutate(b.url, 'renameEntry(path: "/tree/docs", name: "papers") { id }');
    await changed;
    expect(await list(a.url, '/tree/docs')).toBeNull();
    expect(await list(a.url, '/tree/docs/sub')).toBeNull();
    expect((await list(a.url, '/tree/papers'))!.paths).toEqual(['/tree/papers/sub', '/tree/papers/b.txt']);
    expect((await list(a.url, '/tree'))!.paths).toEqual(['/tree/papers']);

    changed = treeChangeReachesA();
    await mutate(b.url, 'moveEntry(path: "/tree/papers/sub", to: "/tree") { id }');
    await changed;
    expect(await list(a.url, '/tree/papers/sub')).toBeNull();
    expect((await list(a.url, '/tree/sub'))!.paths).toEqual(['/tree/sub/a.txt']);
    expect((await list(a.url, '/tree'))!.paths).toEqual(['/tree/papers', '/tree/sub']);

    changed = treeChangeReachesA();
    await mutate(b.url, 'deleteEntry(path: "/tree/sub") { deletedFiles }');
    await changed;
    expect(await list(a.url, '/tree/sub')).toBeNull();
    expect(await list(a.url, '/tree')).toMatchObject({ totalCount: 1, paths: ['/tree/papers'] });
    expect((await graphql(a.url, '{ file(path: "/tree/sub/a.txt") { id } }', {}, { apiKey: org.apiKey })).body.data.file).toBeNull();
  });

  it('lists rightly on the gateway that made the change, without waiting for anything', async () => {
    await list(a.url, '/tree/papers');
    await mutate(a.url, 'renameEntry(path: "/tree/papers", name: "letters") { id }');
    expect(await list(a.url, '/tree/papers')).toBeNull();
    expect((await list(a.url, '/tree/letters'))!.paths).toEqual(['/tree/letters/b.txt']);
    await mutate(a.url, 'createFolder(path: "/tree/inbox") { id }');
    await mutate(a.url, 'moveEntry(path: "/tree/letters", to: "/tree/inbox") { id }');
    expect(await list(a.url, '/tree/letters')).toBeNull();
    expect((await list(a.url, '/tree/inbox/letters'))!.paths).toEqual(['/tree/inbox/letters/b.txt']);
    await mutate(a.url, 'deleteEntry(path: "/tree/inbox") { deletedFiles }');
    expect(await list(a.url, '/tree/inbox/letters')).toBeNull();
  });

  it('forgets cached paths when a folder is renamed by hand in the database', async () => {
    await mutate(a.url, 'createFolder(path: "/manual/before") { id }');
    expect(await list(a.url, '/manual/before')).not.toBeNull();
    const sql = new Client({ connectionString: a.database.url });
    await sql.connect();
    try {
      const changed = treeChangeReachesA();
      await sql.query(`UPDATE storage_entries SET name = 'after' WHERE organization_id = $1 AND name = 'before'`, [org.orgId]);
      await changed;
    } finally {
      await sql.end();
    }
    expect(await list(a.url, '/manual/before')).toBeNull();
    expect(await list(a.url, '/manual/after')).not.toBeNull();
  });

  it('caches no path while its LISTEN connection is down, so a change elsewhere is seen at once', async () => {
    await mutate(a.url, 'createFolder(path: "/offline/x") { id }');
    expect(await list(a.url, '/offline/x')).not.toBeNull();
    await a.services.notifications.stop();
    try {
      await mutate(b.url, 'renameEntry(path: "/offline/x", name: "y") { id }');
      expect(await list(a.url, '/offline/x')).toBeNull();
      expect(await list(a.url, '/offline/y')).not.toBeNull();
      expect(await storageStatementsOfA(() => list(a.url, '/offline/y'))).toBeGreaterThan(0);
    } finally {
      await a.services.notifications.start();
    }
    await waitFor(async () => a.services.notifications.isListening, Boolean, 30_000, 'the LISTEN connection to be back');
  });
});
