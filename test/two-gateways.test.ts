import fs from 'node:fs';
import { startChildGateway, ChildGateway } from './support/child-gateway';
import { startTestGateway, TestGateway } from './support/gateway';
import { errorCode, graphql } from './support/http';
import { eventually, filesUnder, md5, tempDir, uploadFile } from './support/storage';

/**
 * Two gateway processes on one database and one storage directory, as a scaled-out deployment
 * runs: A in this process (with the workflow worker), B a child process (`alloy serve --no-worker`).
 * Requests that race each other are spread across both, and the outcome must be consistent.
 */

let a: TestGateway;
let b: ChildGateway;
let dir: string;
let apiKey: string;
let orgId: string;

beforeAll(async () => {
  dir = tempDir('alloy-two-gateways-');
  // Replaced objects are deleted as soon as their job runs, so the test can see the end state.
  const env = { STORAGE_DRIVER: 'disk', STORAGE_DIR: dir, STORAGE_DELETION_DELAY_SECONDS: '0' };
  a = await startTestGateway({ env });
  b = await startChildGateway(a.database.url, env);
  ({ apiKey, orgId } = await a.createOrg());
}, 120_000);

afterAll(async () => {
  const exit = await b?.stop();
  await a?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  expect(exit).toBe(0);
});

const gateways = () => [a.url, b.url];

describe('two gateways on one database and one storage', () => {
  it('ends concurrent same-path uploads through both with exactly one file, one object, read alike by both', async () => {
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`upload ${i} `.repeat(500 + i * 37)));
    const results = await Promise.all(contents.map((bytes, i) => uploadFile(gateways()[i % 2], apiKey, '/race/deep', 'same.txt', bytes)));

    const answered = new Set<string>();
    for (const res of results) {
      expect(res.body.errors).toBeUndefined();
      answered.add(res.body.data.uploadFile.id);
    }
    expect(answered.size).toBe(1); // every overwrite kept the one file's id

    const rows: Array<{ id: string; md5: string; size: number; object_key: string }> = await a.db.query(
      `SELECT id, md5, size::int AS size, object_key FROM storage_entries WHERE organization_id = $1 AND kind = 'file'`,
      [orgId],
    );
    expect(rows).toHaveLength(1);
    const [file] = rows;
    const winner = contents.find((bytes) => md5(bytes) === file.md5);
    expect(winner).toBeDefined();
    expect(file.size).toBe(winner!.length);

    for (const url of gateways()) {
      const res = await fetch(`${url}/files/${file.id}/content`, { headers: { 'api-key': apiKey } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(winner!)).toBe(true);
      const meta = await graphql(url, `{ file(path: "/race/deep/same.txt") { id md5 size } }`, {}, { apiKey });
      expect(meta.body.data.file).toEqual({ id: file.id, md5: file.md5, size: winner!.length });
    }

    // The 19 replaced objects go by deletion jobs (worked by either process); nothing is pending.
    const objectsOfOrg = () => filesUnder(dir).filter((f) => f.startsWith(orgId));
    await eventually(async () => objectsOfOrg().length === 1, 'the replaced objects to be deleted');
    expect(await a.services.storage.sweepOrphans(0)).toBe(0);
    expect(objectsOfOrg()).toEqual([file.object_key]);
    expect((await a.db.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n).toBe(0);
  });

  it('lets at most one of two opposite folder moves through, and never builds a cycle', async () => {
    const move = `mutation($path: String!, $to: String!) { moveEntry(path: $path, to: $to) { id } }`;
    let successes = 0;
    for (let round = 0; round < 10; round++) {
      const base = `/moves-${round}`;
      const ids: string[] = [];
      for (const folder of ['x', 'y']) {
        const made = await graphql(a.url, `mutation($p: String!) { createFolder(path: $p) { id } }`, { p: `${base}/${folder}` }, { apiKey });
        expect(made.body.errors).toBeUndefined();
        ids.push(made.body.data.createFolder.id);
      }
      const [xIntoY, yIntoX] = await Promise.all([
        graphql(a.url, move, { path: `${base}/x`, to: `${base}/y` }, { apiKey }),
        graphql(b.url, move, { path: `${base}/y`, to: `${base}/x` }, { apiKey }),
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
    const { workflow } = await a.services.workflows.createWorkflow(orgId, {
      name: 'once across gateways',
      startStep: 's',
      steps: { s: { type: 'transform', output: '{{payload.n}}' } },
    });
    const trigger = `mutation($id: ID!, $payload: JSON, $key: String) { triggerWorkflow(workflowId: $id, payload: $payload, idempotencyKey: $key) { runId } }`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => graphql(gateways()[i % 2], trigger, { id: workflow.id, payload: { n: 1 }, key: 'spread-key' }, { apiKey })),
    );
    for (const res of results) expect(res.body.errors).toBeUndefined();
    const runIds = new Set(results.map((res) => res.body.data.triggerWorkflow.runId));
    expect(runIds.size).toBe(1);
    const runs = await a.db.query(`SELECT id FROM workflow_runs WHERE workflow_id = $1`, [workflow.id]);
    expect(runs).toEqual([{ id: [...runIds][0] }]);
  });
});
