import { playgroundLink } from '../playground/playground';

/**
 * Ready-to-paste examples of calling a teammate through its API channel, and the link that opens
 * the playground with the call filled in (the API tab's request tester). The key is never known
 * here (only its hash is kept), so the examples read it from the ALLOY_API_KEY environment
 * variable, and the playground leaves the `api-key` header for the user to paste it.
 */
export interface ApiExampleText {
  /** `curl`, `graphql` or `javascript`. */
  language: 'curl' | 'graphql' | 'javascript';
  title: string;
  code: string;
}

const EXAMPLE_INPUT = { message: 'Hello' };

/** The operation the playground opens with; the teammate's id is in its variables. */
const PLAYGROUND_OPERATION = `mutation CallTeammate($teammateId: ID!, $input: JSON!) {
  callTeammate(teammateId: $teammateId, input: $input) {
    runId
    run { id status output error }
  }
}
`;

export function teammateApiExamples(endpoint: string, teammateId: string): ApiExampleText[] {
  const inline = `mutation CallTeammate($input: JSON!) { callTeammate(teammateId: "${teammateId}", input: $input) { runId run { id status } } }`;
  const body = JSON.stringify({ query: inline, variables: { input: EXAMPLE_INPUT } });
  const curl = [
    `curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $ALLOY_API_KEY" \\`,
    `  -d '${body}'`,
  ].join('\n');
  const graphql = [
    'mutation CallTeammate($input: JSON!) {',
    `  callTeammate(teammateId: "${teammateId}", input: $input) {`,
    '    runId',
    '    run { id status output error }',
    '  }',
    '}',
    `# variables: ${JSON.stringify({ input: EXAMPLE_INPUT })}`,
  ].join('\n');
  const javascript = [
    `fetch(${JSON.stringify(endpoint)}, {`,
    `  method: 'POST',`,
    `  headers: { 'content-type': 'application/json', 'api-key': process.env.ALLOY_API_KEY },`,
    `  body: JSON.stringify({`,
    `    query: ${JSON.stringify(inline)},`,
    `    variables: { input: ${JSON.stringify(EXAMPLE_INPUT)} },`,
    `  }),`,
    `})`,
    `  .then((response) => response.json())`,
    `  .then((result) => console.log(JSON.stringify(result)));`,
  ].join('\n');
  // The call again, keeping only its runId, for the two examples that go on with the run.
  const start = [
    `RUN_ID=$(curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $ALLOY_API_KEY" \\`,
    `  -d '${body}' | sed -E 's/.*"runId":"([^"]+)".*/\\1/')`,
  ];
  const base = endpoint.replace(/\/graphql$/, '');
  const follow = [...start, `curl -N "${base}/runs/$RUN_ID/events" -H "api-key: $ALLOY_API_KEY"`].join('\n');
  const cancel = [
    ...start,
    `curl -s "${endpoint}" \\`,
    `  -H 'content-type: application/json' \\`,
    `  -H "api-key: $ALLOY_API_KEY" \\`,
    `  -d '{"query":"mutation($id: ID!) { cancelWorkflowRun(id: $id) { id status } }","variables":{"id":"'"$RUN_ID"'"}}'`,
  ].join('\n');
  return [
    { language: 'curl', title: 'curl, with the key in $ALLOY_API_KEY', code: curl },
    { language: 'graphql', title: 'GraphQL, with the variables below it; send the key in the api-key header', code: graphql },
    { language: 'javascript', title: 'JavaScript fetch (Node 18 or later), with the key in process.env.ALLOY_API_KEY', code: javascript },
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
  const variables = `${JSON.stringify({ teammateId, input: EXAMPLE_INPUT }, null, 2)}\n`;
  return playgroundLink(endpoint, { query: PLAYGROUND_OPERATION, variables });
}
