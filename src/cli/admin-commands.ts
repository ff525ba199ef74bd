import type { Command } from 'commander';
import type { OrganizationContents } from '../auth/organization.service';
import { CliRefusal, fail, print, OutputOptions } from './output';
import { withDatabase } from './with-database';

type Json = OutputOptions;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function describeContents(c: OrganizationContents): string {
  return [
    plural(c.keys, 'API key'),
    plural(c.files, 'file'),
    plural(c.workflows, 'workflow'),
    plural(c.runs, 'run'),
    plural(c.teammates, 'teammate'),
  ].join(', ');
}

/** `alloy migrate`, `alloy org create|list|rename|delete`, `alloy key create|list|revoke`. */
export function registerAdminCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations')
    .option('--json', 'print one JSON object')
    .action(async (opts: Json) => {
      try {
        const applied = await withDatabase(async ({ applied }) => applied);
        print(opts, { applied }, () => (applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date'));
      } catch (error) {
        fail(opts, error);
      }
    });

  const org = program.command('org').description('organizations');
  org
    .command('create <name>')
    .description('create an organization and its first API key (shown only once)')
    .option('--json', 'print one JSON object')
    .action(async (name: string, opts: Json) => {
      try {
        const created = await withDatabase(({ admin }) => admin.organizations.createOrganization(name));
        print(opts, created, () =>
          [
            `Organization ${created.orgId}`,
            `Key ${created.keyId}`,
            `API key: ${created.apiKey}`,
            `The API key is shown only once; keep it somewhere safe (alloy key create --org ${created.orgId} makes another).`,
          ].join('\n'),
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  org
    .command('list')
    .description('list every organization, oldest first')
    .option('--json', 'print one JSON object')
    .action(async (opts: Json) => {
      try {
        const organizations = await withDatabase(({ admin }) => admin.organizations.listOrganizations());
        print(
          opts,
          { organizations },
          () => organizations.map((o) => `${o.orgId}  ${o.name}  created ${o.createdAt}`).join('\n') || 'No organizations',
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  org
    .command('rename <orgId> <name>')
    .description('rename an organization')
    .option('--json', 'print one JSON object')
    .action(async (orgId: string, name: string, opts: Json) => {
      try {
        const renamed = await withDatabase(({ admin }) => admin.organizations.renameOrganization(orgId, name));
        print(opts, renamed, () => `Organization ${renamed.orgId} is now ${JSON.stringify(renamed.name)}`);
      } catch (error) {
        fail(opts, error);
      }
    });

  org
    .command('delete <orgId>')
    .description('delete an organization with its keys, folders and files, workflows, runs and teammates, for good (needs --yes)')
    .option('--yes', 'confirm: this cannot be undone')
    .option('--json', 'print one JSON object')
    .action(async (orgId: string, opts: Json & { yes?: boolean }) => {
      try {
        const removed = await withDatabase(async ({ admin }) => {
          const { organizations } = admin;
          if (!opts.yes) {
            const contents = await organizations.organizationContents(orgId);
            throw new CliRefusal(
              'USAGE_ERROR',
              `Deleting organization ${contents.orgId} (${JSON.stringify(contents.name)}) cannot be undone: it removes ${describeContents(contents)}. ` +
                'Nothing was changed; run the command again with --yes to delete it',
            );
          }
          // The stored objects go through the deletion jobs, which whichever gateway or worker runs consumes.
          return await organizations.deleteOrganization(orgId);
        });
        print(
          opts,
          { orgId: removed.orgId, deleted: true },
          () => `Deleted organization ${removed.orgId} (${JSON.stringify(removed.name)}): ${describeContents(removed)}`,
        );
      } catch (error) {
        fail(opts, error);
      }
    });

  const key = program.command('key').description('organization API keys');
  key
    .command('create')
    .description('create another API key for an organization (shown only once)')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--name <label>', 'a label to tell keys apart')
    .option('--json', 'print one JSON object')
    .action(async (opts: Json & { org: string; name?: string }) => {
      try {
        const created = await withDatabase(({ admin }) => admin.organizations.createKey(opts.org, opts.name));
        print(opts, { ...created }, () =>
          [`Key ${created.keyId}`, `API key: ${created.apiKey}`, 'The API key is shown only once; keep it somewhere safe.'].join('\n'),
        );
      } catch (error) {
        fail(opts, error);
      }
    });
  key
    .command('list')
    .description("list an organization's API keys (never the secrets)")
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (opts: Json & { org: string }) => {
      try {
        const keys = await withDatabase(({ admin }) => admin.organizations.listKeys(opts.org));
        print(
          opts,
          { keys },
          () =>
            keys
              .map(
                (k) => `${k.keyId}  ${k.prefix}  ${k.name ?? '-'}  last used ${k.lastUsedAt ?? 'never'}${k.revokedAt ? '  REVOKED' : ''}`,
              )
              .join('\n') || 'No keys',
        );
      } catch (error) {
        fail(opts, error);
      }
    });
  key
    .command('revoke <keyId>')
    .description('revoke an API key; it stops working at once')
    .option('--json', 'print one JSON object')
    .action(async (keyId: string, opts: Json) => {
      try {
        const revoked = await withDatabase(({ admin }) => admin.organizations.revokeKey(keyId));
        print(opts, revoked, () => `Revoked ${revoked.keyId} at ${revoked.revokedAt}`);
      } catch (error) {
        fail(opts, error);
      }
    });
}
