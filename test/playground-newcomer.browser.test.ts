import fs from 'node:fs';
import { chromium, Browser, BrowserContext, Page } from 'playwright-core';
import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { waitFor } from './support/poll';

/**
 * The teammate's request tester and the playground after it, in a real headless Chromium (see
 * playground.browser.test.ts): the prefilled `"input": {"message":"Hello"}` is not marked as an
 * error (`JSON` takes any value), while a value of a wrong type still is; and `/graphql` opened
 * after the tester shows the prefilled organization query, not an empty tab.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const QUERY_EDITOR = '.graphiql-query-editor .monaco-editor[data-uri$="operation.graphql"]';
const VARIABLES_EDITOR = '.monaco-editor[data-uri$="variables.json"]';

const editorText = async (page: Page, selector: string) =>
  (await page.locator(`${selector} .view-lines`).innerText()).replace(/\u00a0/g, ' ');

/** The problems Monaco shows in the variables editor (the red underlines), as their messages. */
const variableMarkers = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const monaco = (globalThis as unknown as { __MONACO: any }).__MONACO;
    return monaco.editor
      .getModelMarkers({})
      .filter((m: { resource: { toString(): string } }) => m.resource.toString().endsWith('variables.json'))
      .map((m: { message: string }) => m.message);
  });

/** The variables editor's whole text (its model, not only the lines Monaco has rendered). */
const getVariables = (page: Page): Promise<string> =>
  page.evaluate(() => {
    const monaco = (globalThis as unknown as { __MONACO: any }).__MONACO;
    return monaco.editor
      .getModels()
      .find((m: { uri: { toString(): string } }) => m.uri.toString().endsWith('variables.json'))
      .getValue();
  });

/** Puts `text` into the variables editor, as a paste that replaces everything does. */
const setVariables = (page: Page, text: string): Promise<void> =>
  page.evaluate((value) => {
    const monaco = (globalThis as unknown as { __MONACO: any }).__MONACO;
    const model = monaco.editor.getModels().find((m: { uri: { toString(): string } }) => m.uri.toString().endsWith('variables.json'));
    model.pushEditOperations([], [{ range: model.getFullModelRange(), text: value }], () => null);
  }, text);

describe('the request tester and the playground after it (headless Chromium)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let playgroundUrl: string;
  let teammateId: string;
  const { gw, org } = useGatewayWithOrg({
    background: false,
    orgName: 'Tester Org',
    beforeClose: async () => {
      await context?.close();
      await browser?.close();
    },
  });

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: \`apt-get install chromium\`, or set CHROMIUM_PATH`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    context = await browser.newContext();
    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'tester',
      startStep: 'reply',
      steps: { reply: { type: 'transform', output: { reply: '{{payload.message}}' } } },
    });
    const teammate = await gw.services.teammates.createTeammate(org.orgId, { name: 'Tester', workflowId: workflow.id, channels: ['API'] });
    teammateId = teammate.id;
    const api = await graphql(
      gw.url,
      'query($id: ID!) { teammate(id: $id) { api { playgroundUrl } } }',
      { id: teammateId },
      { apiKey: org.apiKey },
    );
    playgroundUrl = api.body.data.teammate.api.playgroundUrl;
  }, 120_000);

  it('marks nothing in the prefilled variables (JSON takes an object), and still marks a value of the wrong type', async () => {
    const page = await context.newPage();
    try {
      await page.goto(playgroundUrl, { waitUntil: 'load' });
      await page.locator(QUERY_EDITOR).filter({ hasText: 'callTeammate' }).waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator('.graphiql-editor-tools button', { hasText: 'Variables' }).click();
      const variables = page.locator(VARIABLES_EDITOR);
      await variables.filter({ hasText: teammateId }).waitFor({ state: 'visible', timeout: 10_000 });
      const prefilled = await getVariables(page);
      expect(JSON.parse(prefilled)).toMatchObject({ teammateId, input: { message: 'Hello' } });

      // The checker is running: an id that is a number is marked…
      await setVariables(page, JSON.stringify({ ...JSON.parse(prefilled), teammateId: 5 }));
      const wrong = await waitFor(
        () => variableMarkers(page),
        (markers) => markers.some((m) => /Incorrect type/.test(m)),
        30_000,
        'the wrong type to be marked',
      );
      expect(wrong).toContainEqual(expect.stringMatching(/Incorrect type\. Expected "string"/));

      // …and with the tester's own variables back, nothing is.
      await setVariables(page, prefilled);
      expect(
        await waitFor(
          () => variableMarkers(page),
          (markers) => markers.length === 0,
          30_000,
          () => 'the prefilled variables to be marked as fine',
        ),
      ).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('after the tester, /graphql opens on the prefilled organization query, not an empty tab', async () => {
    const page = await context.newPage();
    try {
      await page.goto(`${gw.url}/graphql`, { waitUntil: 'load' });
      const query = page.locator(QUERY_EDITOR);
      await query.filter({ hasText: 'organization' }).waitFor({ state: 'visible', timeout: 30_000 });
      expect(await editorText(page, QUERY_EDITOR)).toMatch(/\{\s*organization\s*\{\s*id\s*name\s*\}\s*\}/);
      // The tester's tab is kept beside it.
      expect(await page.locator('.graphiql-tab').allInnerTexts()).toContain('CallTeammate');
    } finally {
      await page.close();
    }
  }, 90_000);
});
