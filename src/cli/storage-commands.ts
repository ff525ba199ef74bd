import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { AppError, ErrorCode } from '../graphql/errors';
import { importDirectory, ImportProgress, ImportSummary, resolveImportDirectory } from '../storage/import-directory';
import type { ReindexProgress, ReindexSummary } from '../storage/search/text-index';
import { fail, print, OutputOptions } from './output';
import { withDatabase } from './with-database';

function progressBar(): ImportProgress {
  const bar = new SingleBar(
    { format: 'importing [{bar}] {value}/{total} files  {file}', hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(total, 0, { file: '' }),
    advance: (file) => bar.increment(1, { file: file.length > 40 ? `…${file.slice(-39)}` : file }),
    stop: () => bar.stop(),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "1 symbolic link, 2 special files": what was skipped, by kind. */
function skippedKinds(summary: ImportSummary): string {
  const links = summary.skipped.filter((s) => s.reason.startsWith('symbolic link')).length;
  const special = summary.skipped.length - links;
  return [links ? plural(links, 'symbolic link') : '', special ? plural(special, 'special file') : ''].filter(Boolean).join(', ');
}

function humanSummary(summary: ImportSummary): string {
  const mb = (summary.bytes / (1024 * 1024)).toFixed(1);
  const skipped = summary.skipped.length ? `; skipped: ${skippedKinds(summary)}` : '';
  const lines = [
    `Imported ${summary.files} files (${summary.bytes} bytes, ${mb} MB) in ${summary.seconds.toFixed(1)} s; ${summary.failures.length} failed${skipped}`,
  ];
  for (const failure of summary.failures) lines.push(`  failed: ${failure.path}: ${failure.reason}`);
  for (const skip of summary.skipped) lines.push(`  skipped: ${skip.path}: ${skip.reason}`);
  return lines.join('\n');
}

function reindexBar(): ReindexProgress {
  const bar = new SingleBar(
    { format: 'reindexing [{bar}] {value}/{total} files  {status}', hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(total, 0, { status: '' }),
    advance: (outcome) => bar.increment(1, { status: outcome.status }),
    stop: () => bar.stop(),
  };
}

function reindexSummary(summary: ReindexSummary): string {
  const lines = [
    `Reindexed ${summary.files} files in ${summary.seconds.toFixed(1)} s: ${summary.indexed} indexed, ${summary.notText} not text, ${summary.failed} failed`,
  ];
  for (const failure of summary.failures) lines.push(`  failed: ${failure.entryId}: ${failure.reason}`);
  return lines.join('\n');
}

/** `alloy storage import <dir> --org <id> [--to /folder] [--follow-links]` and `alloy storage reindex --org <id>`. */
export function registerStorageCommands(program: Command): void {
  const storage = program.command('storage').description("an organization's folders and files");
  storage
    .command('import <localDir>')
    .description('upload a local directory tree (files over MAX_UPLOAD_BYTES are reported; symbolic links and special files are skipped)')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--to <folder>', 'destination folder', '/')
    .option('--follow-links', 'follow symbolic links whose target lies inside the directory (others are always skipped)')
    .option('--json', 'print one JSON object')
    .action(async (localDir: string, opts: OutputOptions & { org: string; to: string; followLinks?: boolean }) => {
      try {
        // A wrong directory is said before anything is opened.
        await resolveImportDirectory(localDir);
        const summary = await withDatabase(async ({ services, admin }) => {
          if (!(await admin.organizations.exists(opts.org))) throw new AppError(ErrorCode.NOT_FOUND, `Organization ${opts.org} not found`);
          const showBar = !opts.json && process.stderr.isTTY;
          return await importDirectory(services.storage, opts.org, localDir, opts.to, {
            followLinks: opts.followLinks === true,
            progress: showBar ? progressBar() : undefined,
          });
        });
        print(opts, summary, () => humanSummary(summary));
        if (summary.failures.length) process.exitCode = 1;
      } catch (error) {
        fail(opts, error);
      }
    });

  storage
    .command('reindex')
    .description(
      'read the text of every file of an organization again, for search (after an upgrade of the readers, or for files stored before search)',
    )
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (opts: OutputOptions & { org: string }) => {
      try {
        const summary = await withDatabase(async ({ services, admin }) => {
          if (!(await admin.organizations.exists(opts.org))) throw new AppError(ErrorCode.NOT_FOUND, `Organization ${opts.org} not found`);
          // The text is read here, by this process.
          const showBar = !opts.json && process.stderr.isTTY;
          return await services.storage.texts.reindex(opts.org, showBar ? reindexBar() : undefined);
        });
        print(opts, summary, () => reindexSummary(summary));
      } catch (error) {
        fail(opts, error);
      }
    });
}
