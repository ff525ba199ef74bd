import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchContext } from './figure';
import { NotApplicable } from './figure';

/** A startable one-step workflow (a transform: no network), created with the admin CLI. */
export async function createBenchWorkflow(ctx: BenchContext): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-bench-')), 'workflow.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ name: 'bench', startStep: 'shape', steps: { shape: { type: 'transform', output: { echo: '{{payload.text}}' } } } }),
  );
  try {
    const { workflowId } = await ctx.cli<{ workflowId: string }>(['workflow', 'create', '--org', ctx.orgId, '--file', file]);
    return workflowId;
  } catch (error) {
    throw new NotApplicable(`\`alloy workflow create\` failed: ${(error as Error).message.split('\n')[0]}`);
  }
}
