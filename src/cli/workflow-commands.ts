import fs from 'node:fs';
import type { Command } from 'commander';
import { badInput } from '../graphql/errors';
import { MAX_KEEP_PREVIOUS_SECONDS } from '../workflows/signing';
import { fail, print, OutputOptions } from './output';
import { withDatabase } from './with-database';

/** What the usual reasons a file cannot be read mean, in words. */
const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder; give the JSON file',
  EACCES: 'permission denied',
  ENOTDIR: 'no such file (a part of the path is not a folder)',
};

function readDefinition(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw badInput(`Cannot read ${file}: ${(code && READ_ERRORS[code]) ?? code ?? (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badInput(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `alloy workflow create|list|show|update|delete|rotate-secret` and
 * `alloy teammate create|list|update|delete`: straight on the database, no queue and no gateway needed.
 */
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
        const created = await withDatabase(({ services }) => services.workflows.createWorkflow(opts.org, definition));
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
    .command('list')
    .description("list an organization's workflows, oldest first")
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (opts: OutputOptions & { org: string }) => {
      try {
        const workflows = await withDatabase(({ services }) => services.workflows.workflowsOfOrganization(opts.org));
        const listed = workflows.map((w) => ({
          workflowId: w.id,
          name: w.name,
          startable: w.startable,
          createdAt: w.createdAt.toISOString(),
          updatedAt: w.updatedAt.toISOString(),
        }));
        print(
          opts,
          { workflows: listed },
          () =>
            listed.map((w) => `${w.workflowId}  ${w.name}${w.startable ? '' : '  (not startable)'}  updated ${w.updatedAt}`).join('\n') ||
            'No workflows',
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  workflow
    .command('show <workflowId>')
    .description('print a workflow and its current definition (never its signing secret)')
    .option('--json', 'print one JSON object')
    .action(async (workflowId: string, opts: OutputOptions) => {
      try {
        const found = await withDatabase(({ admin }) => admin.workflows.requireWorkflow(workflowId));
        print(opts, { workflowId: found.id, name: found.name, startable: found.startable, definition: found.definition }, () =>
          [
            `Workflow ${found.id} (${found.name}), version ${found.version}, ${found.startable ? `starts at step "${found.startStep}"` : 'not startable'}`,
            JSON.stringify(found.definition, null, 2),
          ].join('\n'),
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  workflow
    .command('update <workflowId>')
    .description("replace a workflow's definition (checked as create checks it); runs already started finish with the old one")
    .requiredOption('--file <definition.json>', 'the new definition, in the format of workflow create')
    .option('--json', 'print one JSON object')
    .action(async (workflowId: string, opts: OutputOptions & { file: string }) => {
      try {
        const definition = readDefinition(opts.file);
        const { workflow: updated, notStartableBecause } = await withDatabase(({ admin }) =>
          admin.workflows.updateWorkflow(workflowId, definition),
        );
        print(opts, { workflowId: updated.id, name: updated.name, startable: updated.startable }, () =>
          notStartableBecause
            ? `Workflow ${updated.id} (${updated.name}) updated to version ${updated.version}, but it cannot be started: ${notStartableBecause}`
            : `Workflow ${updated.id} (${updated.name}) updated to version ${updated.version}, starts at step "${updated.startStep}"`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  workflow
    .command('delete <workflowId>')
    .description('delete a workflow: triggers answer WORKFLOW_NOT_FOUND, its runs stay readable; refused while a teammate runs it')
    .option('--json', 'print one JSON object')
    .action(async (workflowId: string, opts: OutputOptions) => {
      try {
        const deleted = await withDatabase(({ admin }) => admin.workflows.deleteWorkflow(workflowId));
        print(
          opts,
          { workflowId: deleted.workflowId, deleted: true },
          () => `Deleted workflow ${deleted.workflowId}; its runs stay readable`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  workflow
    .command('rotate-secret <workflowId>')
    .description(
      'give the workflow a new signing secret (shown only once); the old one stops signing, or keeps signing too for --keep-previous seconds',
    )
    .option('--keep-previous <seconds>', `keep signing with the old secret too for this long (at most ${MAX_KEEP_PREVIOUS_SECONDS})`, '0')
    .option('--json', 'print one JSON object')
    .action(async (workflowId: string, opts: OutputOptions & { keepPrevious: string }) => {
      try {
        const seconds = /^\d+$/.test(opts.keepPrevious) ? Number(opts.keepPrevious) : Number.NaN;
        const rotated = await withDatabase(({ admin }) => admin.workflows.rotateSigningSecret(workflowId, seconds));
        print(opts, rotated, () =>
          [
            `New signing secret of workflow ${rotated.workflowId}, shown only once:`,
            `Signing secret: ${rotated.signingSecret}`,
            rotated.previousValidUntil
              ? `The previous secret signs too until ${rotated.previousValidUntil.toISOString()}.`
              : 'The previous secret no longer signs.',
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
        const created = await withDatabase(({ services }) =>
          services.teammates.createTeammate(opts.org, {
            name: opts.name,
            workflowId: opts.workflow,
            channels: opts.channel.map((c) => c.toUpperCase()),
          }),
        );
        print(
          opts,
          { teammateId: created.id, name: created.name, channels: created.channels },
          () => `Teammate ${created.id} (${created.name}), channels: ${created.channels.join(', ') || 'none'}`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  teammate
    .command('list')
    .description("list an organization's teammates, oldest first")
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (opts: OutputOptions & { org: string }) => {
      try {
        const teammates = await withDatabase(({ services }) => services.teammates.teammatesOfOrganization(opts.org));
        const listed = teammates.map((t) => ({ teammateId: t.id, name: t.name, channels: t.channels, workflowId: t.workflowId }));
        print(
          opts,
          { teammates: listed },
          () =>
            listed
              .map((t) => `${t.teammateId}  ${t.name}  channels: ${t.channels.join(', ') || 'none'}  workflow ${t.workflowId}`)
              .join('\n') || 'No teammates',
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  teammate
    .command('update <teammateId>')
    .description("change a teammate's name, workflow or channels (only what is given changes)")
    .option('--name <name>', 'new display name')
    .option('--workflow <workflowId>', 'the workflow it runs from now on (of the same organization)')
    .option('--channels <channels>', 'the channels it has from now on, comma-separated (known: API); "" for none')
    .option('--json', 'print one JSON object')
    .action(async (teammateId: string, opts: OutputOptions & { name?: string; workflow?: string; channels?: string }) => {
      try {
        const updated = await withDatabase(({ admin }) =>
          admin.teammates.updateTeammate(teammateId, {
            name: opts.name,
            workflowId: opts.workflow,
            channels: opts.channels === undefined ? undefined : channelList(opts.channels),
          }),
        );
        print(
          opts,
          { teammateId: updated.id, name: updated.name, channels: updated.channels },
          () =>
            `Teammate ${updated.id} (${updated.name}), channels: ${updated.channels.join(', ') || 'none'}, workflow ${updated.workflowId}`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  teammate
    .command('delete <teammateId>')
    .description('delete a teammate: callTeammate answers NOT_FOUND from now on; its runs stay readable')
    .option('--json', 'print one JSON object')
    .action(async (teammateId: string, opts: OutputOptions) => {
      try {
        const deleted = await withDatabase(({ admin }) => admin.teammates.deleteTeammate(teammateId));
        print(
          opts,
          { teammateId: deleted.teammateId, deleted: true },
          () => `Deleted teammate ${deleted.teammateId}; its runs stay readable`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });
}

/** `--channels API,…`: a comma-separated list; an empty value turns every channel off. */
const channelList = (value: string): string[] =>
  value
    .split(',')
    .map((c) => c.trim().toUpperCase())
    .filter((c) => c !== '');
