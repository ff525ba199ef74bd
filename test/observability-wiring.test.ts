import { useGatewayWithOrg } from './support/gateway';
import { graphql } from './support/http';
import { uploadFile } from './support/storage';
import { waitFor } from './support/poll';

/**
 * The figures capabilities feed into `GET /metrics`: uploads and their bytes (from the storage
 * upload path), workflow runs by status and waiting jobs per queue (gauges read at scrape time).
 */

const { gw, org } = useGatewayWithOrg({ env: { MAX_UPLOAD_BYTES: '1000' }, storageDir: true });

async function scrape(): Promise<string> {
  const response = await fetch(`${gw.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of the sample with exactly these labels, 0 if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const labelText = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const prefix = labelText ? `${name}{${labelText}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(prefix.length)) : 0;
}

describe('GET /metrics wiring', () => {
  it('counts stored uploads and their bytes, and refused ones by outcome', async () => {
    const before = await scrape();
    expect((await uploadFile(gw.url, org.apiKey, '/m', 'a.txt', 'x'.repeat(300))).body.errors).toBeUndefined();
    expect((await uploadFile(gw.url, org.apiKey, '/m', 'b.txt', 'y'.repeat(700))).body.errors).toBeUndefined();
    const tooLarge = await uploadFile(gw.url, org.apiKey, '/m', 'c.txt', 'z'.repeat(1001));
    expect(tooLarge.body.errors?.[0].extensions?.code).toBe('FILE_TOO_LARGE');
    const after = await scrape();

    const delta = (name: string, labels?: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('alloy_uploads_total', { outcome: 'stored' })).toBe(2);
    expect(delta('alloy_upload_bytes_total')).toBe(1000);
    expect(delta('alloy_uploads_total', { outcome: 'too_large' })).toBe(1);
  });

  it('shows workflow runs by status after a trigger, read from the database at scrape time', async () => {
    const before = await scrape();
    for (const status of ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']) expect(sample(before, 'alloy_workflow_runs', { status })).toBe(0);

    const { workflow } = await gw.services.workflows.createWorkflow(org.orgId, {
      name: 'gauge',
      startStep: 's',
      steps: { s: { type: 'transform', output: 1 } },
    });
    const trigger = await graphql(
      gw.url,
      `
        mutation ($id: ID!) {
          triggerWorkflow(workflowId: $id) {
            runId
          }
        }
      `,
      { id: workflow.id },
      { apiKey: org.apiKey },
    );
    expect(trigger.body.errors).toBeUndefined();
    await waitFor(
      async () => sample(await scrape(), 'alloy_workflow_runs', { status: 'SUCCEEDED' }) === 1,
      Boolean,
      30_000,
      'the run to show as SUCCEEDED',
    );
    const after = await scrape();
    expect(sample(after, 'alloy_workflow_runs', { status: 'QUEUED' })).toBe(0);
    expect(sample(after, 'alloy_workflow_runs', { status: 'FAILED' })).toBe(0);
  });

  it('shows the jobs waiting in each queue', async () => {
    const queue = gw.services.queue;
    await queue.createQueue('test.metrics-depth');
    for (let i = 0; i < 3; i++) await queue.send('test.metrics-depth', { i }, { startAfter: 3600 });
    const text = await scrape();
    expect(sample(text, 'alloy_queue_jobs_waiting', { queue: 'test.metrics-depth' })).toBe(3);
    expect(text).toMatch(/^alloy_queue_jobs_waiting\{queue="storage\.delete-objects"\} \d+$/m);
  });
});
