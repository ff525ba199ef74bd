/**
 * Ready-to-paste examples of calling a teammate through its API channel. The key is never known
 * here (only its hash is kept), so the examples read it from the ALLOY_API_KEY environment variable.
 */
export interface TeammateApiExamples {
  curl: string;
  graphql: string;
  javascript: string;
  note: string;
}

const EXAMPLE_INPUT = { message: 'Hello' };

export function teammateApiExamples(endpoint: string, teammateId: string): TeammateApiExamples {
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
  return {
    curl,
    graphql,
    javascript,
    note:
      'Set ALLOY_API_KEY to an API key of your organization (header `api-key`). The run is answered QUEUED; add `waitSeconds: 10` to ' +
      'callTeammate to be answered with the finished run and its output, or follow it with workflowRun(id: runId), the ' +
      'workflowRunUpdated(id: runId) subscription or the requestLogs.',
  };
}
