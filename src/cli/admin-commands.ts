import type { Command } from 'commander';
import { OrganizationService } from '../auth/organization.service';
import { fail, print, OutputOptions } from './output';
import { withDatabase } from './with-database';

type Json = OutputOptions;

/** `alloy migrate`, `alloy org create`, `alloy key create|list|revoke`. */
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
        const created = await withDatabase(({ db }) => new OrganizationService(db).createOrganization(name));
        print(opts, created, () => `Organization ${created.orgId}\nKey ${created.keyId}\nAPI key: ${created.apiKey}`);
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
        const created = await withDatabase(({ db }) => new OrganizationService(db).createKey(opts.org, opts.name));
        print(opts, { ...created }, () => `Key ${created.keyId}\nAPI key: ${created.apiKey}`);
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
        const keys = await withDatabase(({ db }) => new OrganizationService(db).listKeys(opts.org));
        print(opts, { keys }, () =>
          keys
            .map((k) => `${k.keyId}  ${k.prefix}  ${k.name ?? '-'}  last used ${k.lastUsedAt ?? 'never'}${k.revokedAt ? '  REVOKED' : ''}`)
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
        const revoked = await withDatabase(({ db }) => new OrganizationService(db).revokeKey(keyId));
        print(opts, revoked, () => `Revoked ${revoked.keyId} at ${revoked.revokedAt}`);
      } catch (error) {
        fail(opts, error);
      }
    });
}
