import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './admin-commands';
import { describeCliError, report, wantsJson } from './output';
import { registerServerCommands } from './server-commands';
import { registerStorageCommands } from './storage-commands';
import { registerWorkflowCommands } from './workflow-commands';

/** This package's version, from the package.json above this file (src/cli/ under ts-jest, dist/src/cli/ when built). */
export function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

/**
 * The program. Commander's own output (usage errors, help) goes through here: with `json` it is
 * kept back (help text into `held`) so that `main` can print it as the one JSON object; without,
 * it is written as usual. Subcommands inherit these settings (they are made after them).
 */
export function buildProgram(options: { json?: boolean; held?: { help: string } } = {}): Command {
  const program = new Command('alloy').description('Alloy gateway admin CLI').version(packageVersion(), '-V, --version');
  program.exitOverride();
  program.configureOutput({
    writeOut: (text) => (options.json ? void (options.held && (options.held.help += text)) : void process.stdout.write(text)),
    writeErr: (text) => (options.json ? undefined : void process.stderr.write(text)),
  });
  program.showHelpAfterError(!options.json);
  registerServerCommands(program);
  registerAdminCommands(program);
  registerWorkflowCommands(program);
  registerStorageCommands(program);
  return program;
}

/** Commander's "error: unknown command 'x'" as a sentence of ours. */
function usageMessage(error: CommanderError): string {
  const text = error.message.replace(/^error:\s*/, '').replace(/\.$/, '');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)} (see alloy --help)`;
}

/** Runs the CLI on `argv` (process.argv) and sets the exit code: 0 on success, 1 on any error. */
export async function main(argv: readonly string[]): Promise<void> {
  const json = wantsJson(argv);
  const held = { help: '' };
  const program = buildProgram({ json, held });
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.version') {
        if (json) process.stdout.write(`${JSON.stringify({ version: packageVersion() })}\n`);
        process.exit(0);
      }
      if (error.code === 'commander.helpDisplayed') {
        if (json) process.stdout.write(`${JSON.stringify({ help: held.help })}\n`);
        process.exit(0);
      }
      // Without --json commander has already written the error (and the help) to stderr.
      if (json) report({ json }, { code: 'USAGE_ERROR', message: usageMessage(error) });
      process.exit(1);
    }
    report({ json }, describeCliError(error));
    process.exit(1);
  }
}

if (require.main === module) void main(process.argv);
