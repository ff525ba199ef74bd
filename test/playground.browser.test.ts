import fs from 'node:fs';
import { chromium, Browser, BrowserContext, Locator, Page, Response } from 'playwright-core';
import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';

/**
 * The playground in a real headless Chromium (Debian's package; `.ci/run` installs it). It must
 * run in CI, so a missing browser fails the test instead of skipping it.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

const QUERY_EDITOR = '.graphiql-query-editor .monaco-editor[data-uri$="operation.graphql"]';
const HEADERS_EDITOR = '.monaco-editor[data-uri$="request-headers.json"]';
const VARIABLES_EDITOR = '.monaco-editor[data-uri$="variables.json"]';
const RESULT = '.result-window .view-lines';

/** A Monaco editor's text as shown (Monaco renders spaces as no-break spaces). */
const editorText = async (page: Page, selector: string) =>
  (await page.locator(`${selector} .view-lines`).innerText()).replace(/\u00a0/g, ' ');

/** Replaces the whole text of a Monaco editor, as a user who selects all and types does. */
async function replaceText(page: Page, editor: Locator, text: string): Promise<void> {
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** Opens the Headers tab; its editor, once shown. */
async function openHeaders(page: Page): Promise<Locator> {
  await page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click();
  const headersEditor = page.locator(HEADERS_EDITOR);
  await headersEditor.waitFor({ state: 'visible', timeout: 10_000 });
  return headersEditor;
}

/** Presses run; the answer to the POST /graphql whose body mentions `mentioning`. */
async function execute(page: Page, gatewayUrl: string, mentioning: string): Promise<Response> {
  const answered = page.waitForResponse(
    (r) => r.url() === `${gatewayUrl}/graphql` && r.request().method() === 'POST' && (r.request().postData() ?? '').includes(mentioning),
  );
  await page.locator('button.graphiql-execute-button').click();
  return answered;
}

function vmModulesEnabled(): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--experimental-vm-modules');
}

describe('GraphiQL playground at GET /graphql (headless Chromium)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  const { gw, org } = useGatewayWithOrg({
    background: false,
    orgName: 'Playground Org',
    beforeClose: async () => {
      await context?.close();
      await browser?.close();
    },
  });

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}. The playground test needs it: \`apt-get install chromium\` ` +
          '(`.ci/run` does), or set CHROMIUM_PATH. `npx playwright install` needs internet and is not used.',
      );
    }
    if (!vmModulesEnabled()) {
      throw new Error(
        'The playground loads its bundle with a dynamic import(), which Jest only allows with ' +
          '`node --experimental-vm-modules`: run `npm test`, or `NODE_OPTIONS=--experimental-vm-modules npx jest ' +
          'test/playground.browser.test.ts`.',
      );
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    context = await browser.newContext();
    // Context-wide, so requests of workers and any popup are recorded as well.
    context.on('request', (request) => requests.push(request.url()));
    page = await context.newPage();
  }, 120_000);

  it('runs { organization { name } } with the api-key header and shows the name', async () => {
    const response = await page.goto(`${gw.url}/graphql`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toMatch(/text\/html/);
    await expect(page.locator('#alloy-playground-note').innerText()).resolves.toMatch(/api-key/);

    const queryEditor = page.locator(QUERY_EDITOR);
    await queryEditor.waitFor({ state: 'visible', timeout: 30_000 });
    await replaceText(page, queryEditor, '{ organization { name } }');

    await replaceText(page, await openHeaders(page), JSON.stringify({ 'api-key': org.apiKey }));

    const graphqlResponse = await execute(page, gw.url, 'organization');
    expect(graphqlResponse.status()).toBe(200);
    expect(graphqlResponse.request().headers()['api-key']).toBe(org.apiKey);

    const result = page.locator(RESULT);
    await expect(
      result
        .filter({ hasText: 'Playground Org' })
        .waitFor({ state: 'visible', timeout: 15_000 })
        .then(() => true),
    ).resolves.toBe(true);
    const text = (await result.innerText()).replace(/\u00a0/g, ' ');
    expect(JSON.parse(text)).toEqual({ data: { organization: { name: 'Playground Org' } } });
  }, 90_000);

  it("opens a teammate's playgroundUrl with its callTeammate filled in: pasting the key and pressing run calls the teammate", async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'tester',
      startStep: 'reply',
      steps: { reply: { type: 'transform', output: { reply: '{{payload.message}}' } } },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Tester', workflowId: workflow.id, channels: ['API'] });
    const api = await graphql(
      gw.url,
      'query($id: ID!) { teammate(id: $id) { api { playgroundUrl } } }',
      { id: teammate.id },
      { apiKey: org.apiKey },
    );
    const { playgroundUrl } = api.body.data.teammate.api;
    expect(playgroundUrl.startsWith(`${gw.url}/graphql?`)).toBe(true);

    // A page of its own in the same browser, whose storage already holds the tabs of the test above.
    const tester = await context.newPage();
    try {
      const response = await tester.goto(playgroundUrl, { waitUntil: 'load' });
      expect(response?.status()).toBe(200);
      const queryEditor = tester.locator(QUERY_EDITOR);
      await queryEditor.filter({ hasText: 'callTeammate' }).waitFor({ state: 'visible', timeout: 30_000 });
      expect(await editorText(tester, QUERY_EDITOR)).toMatch(
        /mutation CallTeammate\(\$teammateId: ID!, \$input: JSON!, \$conversationId: ID, \$files: \[String!\]\)/,
      );

      await tester.locator('.graphiql-editor-tools button', { hasText: 'Variables' }).click();
      await tester.locator(VARIABLES_EDITOR).filter({ hasText: teammate.id }).waitFor({ state: 'visible', timeout: 10_000 });
      expect(JSON.parse(await editorText(tester, VARIABLES_EDITOR))).toEqual({
        teammateId: teammate.id,
        input: { message: 'Hello' },
        conversationId: null,
        files: [],
      });

      // The api-key header is there, waiting for the key.
      const headersEditor = await openHeaders(tester);
      // Monaco fills the editor's lines in after it is visible: wait for the header's line.
      await tester.locator(HEADERS_EDITOR).filter({ hasText: 'api-key' }).waitFor({ state: 'visible', timeout: 10_000 });
      expect(JSON.parse(await editorText(tester, HEADERS_EDITOR))).toEqual({ 'api-key': '' });
      await replaceText(tester, headersEditor, JSON.stringify({ 'api-key': org.apiKey }));

      const called = await execute(tester, gw.url, 'callTeammate');
      expect(called.status()).toBe(200);
      expect(called.request().headers()['api-key']).toBe(org.apiKey);

      const result = tester.locator(RESULT);
      await result.filter({ hasText: 'runId' }).waitFor({ state: 'visible', timeout: 15_000 });
      const shown = JSON.parse((await result.innerText()).replace(/\u00a0/g, ' '));
      const { runId, run } = shown.data.callTeammate;
      expect(run).toMatchObject({ id: runId, status: 'QUEUED' });
      const [stored] = await gw.db.query(`SELECT teammate_id, channel, api_key_id, payload FROM workflow_runs WHERE id = $1`, [runId]);
      expect(stored).toEqual({ teammate_id: teammate.id, channel: 'API', api_key_id: org.keyId, payload: { message: 'Hello' } });
    } finally {
      await tester.close();
    }
  }, 90_000);

  it('takes no headers from a link: the api-key header starts empty whatever the link says', async () => {
    const page2 = await context.newPage();
    try {
      const link = new URL(`${gw.url}/graphql`);
      link.searchParams.set('query', '{ __typename }');
      link.searchParams.set('headers', JSON.stringify({ 'api-key': 'alloy_sk_planted_by_the_link' }));
      await page2.goto(link.href, { waitUntil: 'load' });
      await page2.locator(QUERY_EDITOR).filter({ hasText: '__typename' }).waitFor({ state: 'visible', timeout: 30_000 });
      await openHeaders(page2);
      expect(JSON.parse(await editorText(page2, HEADERS_EDITOR))).toEqual({ 'api-key': '' });
    } finally {
      await page2.close();
    }
  }, 60_000);

  it('made every request to 127.0.0.1 (no CDN)', () => {
    const origin = new URL(gw.url);
    expect(origin.hostname).toBe('127.0.0.1');
    const network = requests.filter((url) => !/^(data|blob):/.test(url));
    expect(network.length).toBeGreaterThan(3); // the page, its bundle, and the GraphQL requests
    const elsewhere = network.filter((url) => new URL(url).hostname !== '127.0.0.1');
    expect(elsewhere).toEqual([]);
    expect(network.some((url) => url.startsWith(`${gw.url}/graphql/_ruru/`))).toBe(true);
  });

  it('runs the workflowRunUpdated subscription over a websocket with the same api-key header, and shows each update', async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'watched',
      startStep: 'a',
      steps: { a: { type: 'transform', output: 1 } },
    });
    const run = await gw.services.workflows.startRun({
      organizationId: org.orgId,
      workflowId: workflow.id,
      payload: null,
      channel: 'TRIGGER',
    });
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    await page.goto(`${gw.url}/graphql`, { waitUntil: 'load' });

    const queryEditor = page.locator(QUERY_EDITOR);
    await queryEditor.waitFor({ state: 'visible', timeout: 30_000 });
    await replaceText(page, queryEditor, `subscription Watch { workflowRunUpdated(id: "${run.id}") { status } }`);
    await replaceText(page, await openHeaders(page), JSON.stringify({ 'api-key': org.apiKey }));
    await page.locator('button.graphiql-execute-button').click();

    const result = page.locator(RESULT);
    const shown = async (status: string) => {
      await result.filter({ hasText: status }).waitFor({ state: 'visible', timeout: 15_000 });
      return JSON.parse((await result.innerText()).replace(/\u00a0/g, ' '));
    };
    expect(await shown('QUEUED')).toEqual({ data: { workflowRunUpdated: { status: 'QUEUED' } } });
    await gw.db.query(`UPDATE workflow_runs SET status = 'SUCCEEDED', output = '1', finished_at = now() WHERE id = $1`, [run.id]);
    await gw.db.query(`SELECT alloy_announce_runs(ARRAY[$1]::uuid[])`, [run.id]);
    expect(await shown('SUCCEEDED')).toEqual({ data: { workflowRunUpdated: { status: 'SUCCEEDED' } } });
    expect(sockets).toEqual([`${gw.url.replace(/^http/, 'ws')}/graphql`]);
  }, 90_000);

  it("runs the workflowRunEvents subscription: the run's stored events, then each new one", async () => {
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'followed',
      startStep: 'a',
      steps: { a: { type: 'transform', output: 1 } },
    });
    const run = await gw.services.workflows.startRun({
      organizationId: org.orgId,
      workflowId: workflow.id,
      payload: null,
      channel: 'TRIGGER',
    });
    await page.goto(`${gw.url}/graphql`, { waitUntil: 'load' });
    const queryEditor = page.locator(QUERY_EDITOR);
    await queryEditor.waitFor({ state: 'visible', timeout: 30_000 });
    await replaceText(page, queryEditor, `subscription Follow { workflowRunEvents(id: "${run.id}") { seq type data } }`);
    await replaceText(page, await openHeaders(page), JSON.stringify({ 'api-key': org.apiKey }));
    await page.locator('button.graphiql-execute-button').click();
    const result = page.locator(RESULT);
    const shown = async (text: string) => {
      await result.filter({ hasText: text }).waitFor({ state: 'visible', timeout: 15_000 });
      return JSON.parse((await result.innerText()).replace(/\u00a0/g, ' '));
    };
    expect(await shown('QUEUED')).toEqual({ data: { workflowRunEvents: { seq: 1, type: 'STATUS', data: 'QUEUED' } } });
    // A change by hand, announced as the README says: its STATUS event is written by the database.
    await gw.db.query(`UPDATE workflow_runs SET status = 'CANCELLED', finished_at = now() WHERE id = $1`, [run.id]);
    await gw.db.query(`SELECT alloy_announce_runs(ARRAY[$1]::uuid[])`, [run.id]);
    expect(await shown('CANCELLED')).toEqual({ data: { workflowRunEvents: { seq: 2, type: 'STATUS', data: 'CANCELLED' } } });
  }, 90_000);
});
