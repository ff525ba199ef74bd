import { subscribeOnce } from './support/graphql-ws';
import { graphql } from './support/http';
import { TestGateway, useGatewayWithOrg } from './support/gateway';
import { uploadFile } from './support/storage';

/**
 * Organization isolation, built from the schema itself: every root Query, Mutation and Subscription
 * field (and the HTTP content route) is aimed by organization B at organization A's ids and paths.
 * Each must answer null or a not-found code, leak nothing of A, and leave A's data as it was. A
 * field that has no probe here fails the test, so a new field cannot ship uncovered.
 */

interface OrgA {
  orgId: string;
  apiKey: string;
  folderId: string;
  fileId: string;
  workflowId: string;
  runId: string;
  teammateId: string;
  /** A kept version of launch.txt, and an entry in A's trash. */
  versionId: string;
  trashedId: string;
  conversationId: string;
  secretWords: string[];
}

type Expectation = 'null' | 'not-found' | 'own-data';
interface Probe {
  query: string;
  variables: (a: OrgA) => Record<string, unknown>;
  /** null: the field answers null; not-found: an error with a not-found code; own-data: B's own (empty) data. */
  expect: Expectation;
}

const NOT_FOUND_CODES = ['NOT_FOUND', 'WORKFLOW_NOT_FOUND'];

const PROBES: Record<string, Probe[]> = {
  'Query.organization': [{ query: '{ organization { id name } }', variables: () => ({}), expect: 'own-data' }],
  'Query.folder': [{ query: 'query($p: String!) { folder(path: $p) { id } }', variables: () => ({ p: '/Secret Plans' }), expect: 'null' }],
  'Query.file': [
    { query: 'query($p: String!) { file(path: $p) { id } }', variables: () => ({ p: '/Secret Plans/launch.txt' }), expect: 'null' },
  ],
  'Query.node': [
    { query: 'query($id: ID!) { node(id: $id) { id } }', variables: (a) => ({ id: a.fileId }), expect: 'null' },
    { query: 'query($id: ID!) { node(id: $id) { id } }', variables: (a) => ({ id: a.folderId }), expect: 'null' },
  ],
  'Query.workflow': [{ query: 'query($id: ID!) { workflow(id: $id) { id } }', variables: (a) => ({ id: a.workflowId }), expect: 'null' }],
  'Query.workflows': [
    { query: '{ workflows(first: 100) { totalCount edges { node { id name definition } } } }', variables: () => ({}), expect: 'own-data' },
  ],
  'Query.workflowRun': [{ query: 'query($id: ID!) { workflowRun(id: $id) { id } }', variables: (a) => ({ id: a.runId }), expect: 'null' }],
  'Query.teammate': [{ query: 'query($id: ID!) { teammate(id: $id) { id } }', variables: (a) => ({ id: a.teammateId }), expect: 'null' }],
  'Query.search': [
    // A's file by its name and by its text (words that are no secret themselves): B finds nothing of A.
    {
      query: 'query($q: String!) { search(query: $q, first: 100) { totalCount edges { node { snippet node { id name path } } } } }',
      variables: () => ({ q: 'launch' }),
      expect: 'own-data',
    },
    {
      query: 'query($q: String!, $u: String) { search(query: $q, under: $u) { totalCount edges { node { snippet node { id path } } } } }',
      variables: () => ({ q: 'codename', u: '/Secret Plans' }),
      expect: 'own-data',
    },
  ],
  'Query.teammates': [
    { query: '{ teammates(first: 100) { totalCount edges { node { id name } } } }', variables: () => ({}), expect: 'own-data' },
  ],
  'Mutation.uploadFile': [], // multipart: covered below, by uploading to A's path with B's key
  'Mutation.createFolder': [
    // B may create the same path in its own tree; A's folder must not change.
    { query: 'mutation($p: String!) { createFolder(path: $p) { id } }', variables: () => ({ p: '/Secret Plans/B' }), expect: 'own-data' },
  ],
  'Mutation.renameEntry': [
    {
      query: 'mutation($p: String!) { renameEntry(path: $p, name: "x") { id } }',
      variables: () => ({ p: '/Secret Plans/launch.txt' }),
      expect: 'not-found',
    },
  ],
  'Mutation.moveEntry': [
    {
      query: 'mutation($p: String!) { moveEntry(path: $p, to: "/") { id } }',
      variables: () => ({ p: '/Secret Plans/launch.txt' }),
      expect: 'not-found',
    },
  ],
  'Mutation.deleteEntry': [
    {
      query: 'mutation($p: String!) { deleteEntry(path: $p) { deletedFiles deletedFolders } }',
      variables: () => ({ p: '/Secret Plans/launch.txt' }),
      expect: 'not-found',
    },
  ],
  'Query.trash': [
    {
      query: '{ trash(first: 100) { totalCount edges { node { originalPath entry { id name } } } } }',
      variables: () => ({}),
      expect: 'own-data',
    },
  ],
  'Mutation.restoreEntry': [
    { query: 'mutation($id: ID!) { restoreEntry(id: $id) { id path } }', variables: (a) => ({ id: a.trashedId }), expect: 'not-found' },
    {
      query: 'mutation($id: ID!) { restoreEntry(id: $id, to: "/mine") { id path } }',
      variables: (a) => ({ id: a.trashedId }),
      expect: 'not-found',
    },
  ],
  'Mutation.emptyTrash': [{ query: 'mutation { emptyTrash { deletedFiles deletedFolders } }', variables: () => ({}), expect: 'own-data' }],
  'Mutation.restoreFileVersion': [
    {
      query: 'mutation($p: String!, $v: ID!) { restoreFileVersion(path: $p, versionId: $v) { id md5 } }',
      variables: (a) => ({ p: '/Secret Plans/launch.txt', v: a.versionId }),
      expect: 'not-found',
    },
  ],
  'Mutation.triggerWorkflow': [
    {
      query: 'mutation($id: ID!) { triggerWorkflow(workflowId: $id, payload: {}) { runId } }',
      variables: (a) => ({ id: a.workflowId }),
      expect: 'not-found',
    },
  ],
  'Subscription.workflowRunUpdated': [], // graphql-ws: covered below, by subscribing to A's run with B's key
  'Subscription.workflowRunEvents': [], // graphql-ws: covered below, and GET /runs/:id/events with it
  'Mutation.cancelWorkflowRun': [
    { query: 'mutation($id: ID!) { cancelWorkflowRun(id: $id) { id status } }', variables: (a) => ({ id: a.runId }), expect: 'not-found' },
  ],
  'Mutation.rerunWorkflowRun': [
    { query: 'mutation($id: ID!) { rerunWorkflowRun(id: $id) { runId } }', variables: (a) => ({ id: a.runId }), expect: 'not-found' },
  ],
  'Mutation.callTeammate': [
    {
      query: 'mutation($id: ID!) { callTeammate(teammateId: $id, input: {}) { runId } }',
      variables: (a) => ({ id: a.teammateId }),
      expect: 'not-found',
    },
  ],
  'Query.conversation': [
    { query: 'query($id: ID!) { conversation(id: $id) { id title } }', variables: (a) => ({ id: a.conversationId }), expect: 'null' },
  ],
  'Mutation.renameConversation': [
    {
      query: 'mutation($id: ID!) { renameConversation(id: $id, title: "x") { id } }',
      variables: (a) => ({ id: a.conversationId }),
      expect: 'not-found',
    },
  ],
  'Mutation.deleteConversation': [
    { query: 'mutation($id: ID!) { deleteConversation(id: $id) }', variables: (a) => ({ id: a.conversationId }), expect: 'not-found' },
  ],
};

async function rootFields(url: string): Promise<string[]> {
  const res = await graphql(
    url,
    '{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }',
  );
  const schema = res.body.data.__schema;
  return [
    ...schema.queryType.fields.map((f: { name: string }) => `Query.${f.name}`),
    ...(schema.mutationType?.fields ?? []).map((f: { name: string }) => `Mutation.${f.name}`),
    ...(schema.subscriptionType?.fields ?? []).map((f: { name: string }) => `Subscription.${f.name}`),
  ];
}

/** A plain text file uploaded to `folder` with the given key. */
const upload = (url: string, apiKey: string, folder: string, name: string, content: string) =>
  uploadFile(url, apiKey, folder, name, content, { contentType: 'text/plain', select: 'id etag' });

/** Everything A can see of its own data, read through the API. */
async function snapshotOfA(gw: TestGateway, a: OrgA) {
  const read = await graphql(
    gw.url,
    `
      query ($f: ID!, $w: ID!, $r: ID!, $t: ID!, $c: ID!) {
        conversation(id: $c) {
          id
          title
        }
        organization {
          id
          name
        }
        folder(path: "/Secret Plans") {
          id
          name
          path
          children(first: 100) {
            totalCount
            edges {
              node {
                id
                name
                path
              }
            }
          }
        }
        trash(first: 10) {
          totalCount
          edges {
            node {
              originalPath
            }
          }
        }
        file(path: "/Secret Plans/launch.txt") {
          versions(first: 10) {
            totalCount
            edges {
              node {
                id
                md5
              }
            }
          }
          id
          name
          size
          md5
          etag
        }
        node(id: $f) {
          id
        }
        workflow(id: $w) {
          id
          name
          startable
        }
        workflowRun(id: $r) {
          id
          status
          payload
        }
        teammate(id: $t) {
          id
          name
          channels
          requestLogs(first: 100) {
            totalCount
          }
        }
        teammates(first: 100) {
          totalCount
        }
        workflows(first: 100) {
          totalCount
          edges {
            node {
              id
              name
              version
              definition
            }
          }
        }
      }
    `,
    { f: a.fileId, w: a.workflowId, r: a.runId, t: a.teammateId, c: a.conversationId },
    { apiKey: a.apiKey },
  );
  expect(read.body.errors).toBeUndefined();
  const content = await fetch(`${gw.url}/files/${a.fileId}/content`, { headers: { 'api-key': a.apiKey } });
  const counts = await gw.db.query(
    `SELECT (SELECT count(*) FROM workflow_runs WHERE organization_id = $1)::int AS runs,
            (SELECT count(*) FROM workflows WHERE organization_id = $1)::int AS workflows`,
    [a.orgId],
  );
  return { data: read.body.data, bytes: await content.text(), counts: counts[0] };
}

describe('organization isolation, from the schema', () => {
  const { gw, org: orgA } = useGatewayWithOrg({ background: { workflows: false }, orgName: 'Alpha Secret Org' });
  let a: OrgA;
  let b: { orgId: string; apiKey: string };

  beforeAll(async () => {
    b = await gw.createOrg('Bravo');
    const folder = await graphql(gw.url, 'mutation { createFolder(path: "/Secret Plans") { id } }', {}, { apiKey: orgA.apiKey });
    const draft = await upload(gw.url, orgA.apiKey, '/Secret Plans', 'launch.txt', 'draft BLUEBIRD');
    const file = await upload(gw.url, orgA.apiKey, '/Secret Plans', 'launch.txt', 'codename BLUEBIRD');
    expect(file.body.errors).toBeUndefined();
    const burned = await upload(gw.url, orgA.apiKey, '/Secret Plans', 'burned.txt', 'burned BLUEBIRD');
    await graphql(gw.url, 'mutation { deleteEntry(path: "/Secret Plans/burned.txt") { deletedFiles } }', {}, { apiKey: orgA.apiKey });
    const { workflow } = await gw.services.workflows.createWorkflow(orgA.orgId, {
      name: 'secret-workflow',
      startStep: 'shape',
      steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } },
    });
    const teammate = await gw.services.teammates.createTeammate(orgA.orgId, {
      name: 'Secret Agent',
      workflowId: workflow.id,
      channels: ['API'],
    });
    const run = await graphql(
      gw.url,
      'mutation($t: ID!) { callTeammate(teammateId: $t, input: { text: "BLUEBIRD" }) { runId conversationId } }',
      { t: teammate.id },
      { apiKey: orgA.apiKey },
    );
    expect(run.body.errors).toBeUndefined();
    a = {
      ...orgA,
      folderId: folder.body.data.createFolder.id,
      fileId: file.body.data.uploadFile.id,
      workflowId: workflow.id,
      runId: run.body.data.callTeammate.runId,
      teammateId: teammate.id,
      versionId: draft.body.data.uploadFile.etag,
      trashedId: burned.body.data.uploadFile.id,
      conversationId: run.body.data.callTeammate.conversationId,
      secretWords: ['Alpha Secret Org', 'BLUEBIRD', 'launch.txt', 'burned.txt', 'secret-workflow', 'Secret Agent', orgA.orgId],
    };
  });

  it('has a probe for every root field of the schema', async () => {
    const uncovered = (await rootFields(gw.url)).filter((field) => !(field in PROBES));
    expect(uncovered).toEqual([]);
  });

  it("answers B's probes at A's ids and paths with null or not-found, leaks nothing, and leaves A unchanged", async () => {
    const before = await snapshotOfA(gw, a);
    const fields = await rootFields(gw.url);
    const failures: string[] = [];
    for (const field of fields) {
      for (const probe of PROBES[field] ?? []) {
        const res = await graphql(gw.url, probe.query, probe.variables(a), { apiKey: b.apiKey });
        const name = field.split('.')[1];
        const text = JSON.stringify(res.body);
        const leaked = a.secretWords.filter((word) => text.includes(word) && !JSON.stringify(probe.variables(a)).includes(word));
        if (leaked.length) failures.push(`${field}: response mentions ${leaked.join(', ')}: ${text}`);
        if (res.status >= 500) failures.push(`${field}: HTTP ${res.status}`);
        const code = res.body.errors?.[0]?.extensions?.code;
        if (probe.expect === 'null' && (res.body.data?.[name] !== null || res.body.errors)) {
          failures.push(`${field}: expected null, got ${text}`);
        }
        if (probe.expect === 'not-found' && !NOT_FOUND_CODES.includes(code)) {
          failures.push(`${field}: expected a not-found code, got ${text}`);
        }
        if (probe.expect === 'own-data' && res.body.errors) failures.push(`${field}: expected B's own data, got ${text}`);
      }
    }
    // Uploading to A's path with B's key writes into B's tree, never A's.
    const bUpload = await upload(gw.url, b.apiKey, '/Secret Plans', 'launch.txt', 'overwritten by B?');
    if (bUpload.body.errors) failures.push(`Mutation.uploadFile: ${JSON.stringify(bUpload.body)}`);
    else if (bUpload.body.data.uploadFile.id === a.fileId) failures.push('Mutation.uploadFile: B overwrote A’s file');
    // A's run, subscribed to with B's key.
    const watched = await subscribeOnce(
      gw.url,
      b.apiKey,
      'subscription($id: ID!) { workflowRunUpdated(id: $id) { id status payload output } }',
      { id: a.runId },
    );
    const watchedLeaks = a.secretWords.filter((word) => watched.text.includes(word));
    if (watchedLeaks.length) failures.push(`Subscription.workflowRunUpdated: mentions ${watchedLeaks.join(', ')}: ${watched.text}`);
    if (JSON.parse(watched.text).errors?.[0]?.extensions?.code !== 'NOT_FOUND')
      failures.push(`Subscription.workflowRunUpdated: expected NOT_FOUND, got ${watched.text}`);
    // A's run's events, subscribed to and streamed with B's key.
    const followed = await subscribeOnce(gw.url, b.apiKey, 'subscription($id: ID!) { workflowRunEvents(id: $id) { seq type data } }', {
      id: a.runId,
    });
    if (
      a.secretWords.some((word) => followed.text.includes(word)) ||
      JSON.parse(followed.text).errors?.[0]?.extensions?.code !== 'NOT_FOUND'
    )
      failures.push(`Subscription.workflowRunEvents: expected NOT_FOUND, got ${followed.text}`);
    const stream = await fetch(`${gw.url}/runs/${a.runId}/events`, { headers: { 'api-key': b.apiKey } });
    const streamed = await stream.text();
    if (stream.status !== 404 || a.secretWords.some((word) => streamed.includes(word)))
      failures.push(`GET /runs/:id/events: HTTP ${stream.status}: ${streamed}`);
    // The content route: A's file id with B's key, and with no key at all.
    for (const headers of [{ 'api-key': b.apiKey }, {} as Record<string, string>]) {
      const res = await fetch(`${gw.url}/files/${a.fileId}/content`, { headers });
      const body = await res.text();
      if (![401, 404].includes(res.status)) failures.push(`GET /files/:id/content: HTTP ${res.status}`);
      if (body.includes('BLUEBIRD')) failures.push('GET /files/:id/content: leaked the bytes');
    }
    expect(failures).toEqual([]);
    expect(await snapshotOfA(gw, a)).toEqual(before);
    // B's own view has none of A's entries.
    const bTeammates = await graphql(gw.url, '{ teammates(first: 100) { totalCount } }', {}, { apiKey: b.apiKey });
    expect(bTeammates.body.data.teammates.totalCount).toBe(0);
    const bWorkflows = await graphql(gw.url, '{ workflows(first: 100) { totalCount edges { node { id } } } }', {}, { apiKey: b.apiKey });
    expect(bWorkflows.body.data.workflows).toEqual({ totalCount: 0, edges: [] });
  });
});
