import type { Command } from 'commander';
import { loadConfig } from '../config/config';
import { fail } from './output';

// The gateway (Apollo, Express, the executor) loads only for these two commands, so that admin
// commands start quickly.
const loadRun = async () => (await import('../app/run')).run;

/** `alloy serve [--no-worker]` and `alloy worker`. */
export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('run the GraphQL gateway (and, unless --no-worker, the workflow executor)')
    .option('--no-worker', 'do not run workflows in this process')
    .action(async (opts: { worker: boolean }) => {
      try {
        await (
          await loadRun()
        )(loadConfig(), { http: true, workflows: opts.worker });
      } catch (error) {
        fail({}, error);
      }
    });
  program
    .command('worker')
    .description('run only the workflow executor (scale it apart from the gateway)')
    .action(async () => {
      try {
        await (
          await loadRun()
        )(loadConfig(), { http: false, workflows: true });
      } catch (error) {
        fail({}, error);
      }
    });
}
