import fs from 'node:fs';
import type { Command } from 'commander';
import { badInput } from '../graphql/errors';
import { TeammateService } from '../teammates/teammate.service';
import { MAX_KEEP_PREVIOUS_SECONDS } from '../workflows/signing';
import { WorkflowService } from '../workflows/workflow.service';
import { fail, print, OutputOptions } from './output';
import { withDatabase } from './with-database';

function readDefinition(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw badInput(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badInput(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `alloy workflow create` and `alloy teammate create`: straight on the database, no queue and no gateway needed. */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('workflows');
  workflow
    .command('create')
    .description('create a workflow from a JSON definition file (see README: Workflows and teammates)')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption('--file <definition.json>', 'the definition: { name, startStep, steps: { id: { type: http|transform, … } } }')
    .option('--json', 'print one JSON object')
    .action(async (opts: OutputOptions & { org: string; file: string }) => {
      try {
        const definition = readDefinition(opts.file);
        const created = await withDatabase(({ db }) => new WorkflowService(db).createWorkflow(opts.org, definition));
        const { workflow, notStartableBecause, signingSecret } = created;
        print(opts, { workflowId: workflow.id, name: workflow.name, startable: workflow.startable, signingSecret }, () =>
          [
            notStartableBecause
              ? `Workflow ${workflow.id} (${workflow.name}) stored, but it cannot be started: ${notStartableBecause}`
              : `Workflow ${workflow.id} (${workflow.name}), starts at step "${workflow.startStep}"`,
            'Its http steps sign their requests (alloy-signature header) with this secret, shown only once:',
            `Signing secret: ${signingSecret}`,
          ].join('\n'),
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  workflow
    .command('rotate-secret <workflowId>')
    .description('give the workflow a new signing secret (shown only once); the old one stops signing, or keeps signing too for --keep-previous seconds')
    .option('--keep-previous <seconds>', `keep signing with the old secret too for this long (at most ${MAX_KEEP_PREVIOUS_SECONDS})`, '0')
    .option('--json', 'print one JSON object')
    .action(async (workflowId: string, opts: OutputOptions & { keepPrevious: string }) => {
      try {
        const seconds = /^\d+$/.test(opts.keepPrevious) ? Number(opts.keepPrevious) : Number.NaN;
        const rotated = await withDatabase(({ db }) => new WorkflowService(db).rotateSigningSecret(workflowId, seconds));
        print(opts, rotated, () =>
          [
            `New signing secret of workflow ${rotated.workflowId}, shown only once:`,
            `Signing secret: ${rotated.signingSecret}`,
            rotated.previousValidUntil ? `The previous secret signs too until ${rotated.previousValidUntil.toISOString()}.` : 'The previous secret no longer signs.',
          ].join('\n'),
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  const teammate = program.command('teammate').description('AI teammates');
  teammate
    .command('create')
    .description('create a teammate that runs a workflow; --channel API makes it callable with callTeammate')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--workflow <workflowId>', 'the workflow it runs')
    .option('--channel <channel>', 'a channel to enable (repeatable; known: API)', collect, [] as string[])
    .option('--json', 'print one JSON object')
    .action(async (opts: OutputOptions & { org: string; name: string; workflow: string; channel: string[] }) => {
      try {
        const created = await withDatabase(({ db }) =>
          new TeammateService(db, new WorkflowService(db)).createTeammate(opts.org, {
            name: opts.name,
            workflowId: opts.workflow,
            channels: opts.channel.map((c) => c.toUpperCase()),
          }),
        );
        print(opts, { teammateId: created.id, name: created.name, channels: created.channels }, () =>
          `Teammate ${created.id} (${created.name}), channels: ${created.channels.join(', ') || 'none'}`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });
}

