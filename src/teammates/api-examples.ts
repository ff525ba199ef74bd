import { playgroundLink } from '../playground/playground';

/**
 * Ready-to-paste examples of calling a teammate through its API channel, and the link that opens
 * the playground with the call filled in (the API tab's request tester). The key is never known
 * here (only its hash is kept), so the examples read it from the API_KEY environment
 * variable, and the playground leaves the `api-key` header for the user to paste it.
 */
export interface ApiExampleText {
  /** `curl`, `graphql` or `javascript`. */
  language: 'curl' | 'graphql' | 'javascript';
  title: string;
  code: string;
}

const EXAMPLE_INPUT = { message: 'Hello' };
const FOLLOW_UP_INPUT = { message: 'Tell me more' };
/** The file the file example hands over: the one the README's upload example stores. */
export const EXAMPLE_FILE = '/reports/2024/report.txt';

/** The operation the playground opens with; the teammate's id is in its variables. */
const PLAYGROUND_OPERATION = `mutation CallTeammate($teammateId: ID!, $input: JSON!, $conversationId: ID, $files: [String!]) {
  callTeammate(teammateId: $teammateId, input: $input, conversationId: $conversationId, files: $files) {
    runId
    conversationId
    run { id status output error }
  }
}

# conversationId: null starts a conversation; put the answer's conversationId here
# to continue it (the teammate then sees the earlier turns).
# files: absolute paths of files in your storage to hand to the teammate, e.g. ["${EXAMPLE_FILE}"].
`;

const shell = (body: unknown) => `'${JSON.stringify(body).replaceAll("'", `'\\''`)}'`;

export function teammateApiExamples(endpoint: string, teammateId: string): ApiExampleText[] {
  const inline = `mutation CallTeammate($input: JSON!) { callTeammate(teammateId: "${teammateId}", input: $input) { runId conversationId run { id status } } }`;
  const curl = [
    `curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $API_KEY" \\`,
    `  -d ${shell({ query: inline, variables: { input: EXAMPLE_INPUT } })}`,
  ].join('\n');
  const graphql = [
    'mutation CallTeammate($input: JSON!, $conversationId: ID, $files: [String!]) {',
    `  callTeammate(teammateId: "${teammateId}", input: $input, conversationId: $conversationId, files: $files) {`,
    '    runId',
    '    conversationId',
    '    run { id status output error }',
    '  }',
    '}',
    '# conversationId: null starts a conversation, the conversationId of an answer continues it;',
    '# files: absolute paths of files in your storage to hand to the teammate.',
    `# variables: ${JSON.stringify({ input: EXAMPLE_INPUT, conversationId: null, files: [] })}`,
  ].join('\n');
  // Two turns: the second continues the first's conversation once the first has finished.
  const turn = `mutation Turn($input: JSON!, $conversationId: ID) { callTeammate(teammateId: "${teammateId}", input: $input, conversationId: $conversationId, waitSeconds: 30) { runId conversationId run { id status output } } }`;
  const javascript = [
    `const call = (variables) =>`,
    `  fetch(${JSON.stringify(endpoint)}, {`,
    `    method: 'POST',`,
    `    headers: { 'content-type': 'application/json', 'api-key': process.env.API_KEY },`,
    `    body: JSON.stringify({ query: ${JSON.stringify(turn)}, variables }),`,
    `  }).then((response) => response.json());`,
    ``,
    `(async () => {`,
    `  const first = await call({ input: ${JSON.stringify(EXAMPLE_INPUT)} });`,
    `  const { conversationId } = first.data.callTeammate;`,
    `  const second = await call({ input: ${JSON.stringify(FOLLOW_UP_INPUT)}, conversationId });`,
    `  console.log(JSON.stringify(second));`,
    `})();`,
  ].join('\n');
  const withFile = `mutation CallWithFile($input: JSON!, $files: [String!]) { callTeammate(teammateId: "${teammateId}", input: $input, files: $files) { runId run { id status files { path md5 } } } }`;
  const curlWithFile = [
    `curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $API_KEY" \\`,
    `  -d ${shell({ query: withFile, variables: { input: { message: 'Summarise this report' }, files: [EXAMPLE_FILE] } })}`,
  ].join('\n');
  // The call again, keeping only its runId, for the two examples that go on with the run.
  const start = [
    `RUN_ID=$(curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $API_KEY" \\`,
    `  -d ${shell({ query: inline, variables: { input: EXAMPLE_INPUT } })} | sed -E 's/.*"runId":"([^"]+)".*/\\1/')`,
  ];
  const base = endpoint.replace(/\/graphql$/, '');
  const follow = [...start, `curl -N "${base}/runs/$RUN_ID/events" -H "api-key: $API_KEY"`].join('\n');
  const cancel = [
    ...start,
    `curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $API_KEY" \\`,
    `  -d '{"query":"mutation($id: ID!) { cancelWorkflowRun(id: $id) { id status } }","variables":{"id":"'"$RUN_ID"'"}}'`,
  ].join('\n');
  return [
    { language: 'curl', title: 'curl, with the key in $API_KEY', code: curl },
    {
      language: 'graphql',
      title: 'GraphQL, with the variables below it (conversationId and files optional); send the key in the api-key header',
      code: graphql,
    },
    {
      language: 'javascript',
      title: 'JavaScript fetch (Node 18 or later): a two-turn conversation, with the key in process.env.API_KEY',
      code: javascript,
    },
    {
      language: 'curl',
      title: `curl: hand the teammate a file of your storage (${EXAMPLE_FILE}); its steps get a signed link to the bytes`,
      code: curlWithFile,
    },
    {
      language: 'curl',
      title: 'Watch the call as it happens: its events as server-sent events (curl -N), until the run ends',
      code: follow,
    },
    { language: 'curl', title: 'Stop a call: cancelWorkflowRun with the runId the call answered', code: cancel },
  ];
}

/**
 * The playground with the teammate's `callTeammate` operation and its variables filled in:
 * pasting a key into the `api-key` header and pressing run calls the teammate.
 */
export function teammatePlaygroundUrl(endpoint: string, teammateId: string): string {
  const variables = `${JSON.stringify({ teammateId, input: EXAMPLE_INPUT, conversationId: null, files: [] }, null, 2)}\n`;
  return playgroundLink(endpoint, { query: PLAYGROUND_OPERATION, variables });
}
