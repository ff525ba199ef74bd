import 'reflect-metadata';
import { Command } from 'commander';
import { registerAdminCommands } from './admin-commands';
import { registerServerCommands } from './server-commands';
import { registerWorkflowCommands } from './workflow-commands';

export function buildProgram(): Command {
  const program = new Command('alloy').description('Alloy gateway admin CLI').showHelpAfterError();
  registerServerCommands(program);
  registerAdminCommands(program);
  registerWorkflowCommands(program);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: Error) => {
      process.stderr.write(`alloy: ${error.message}\n`);
      process.exit(1);
    });
}
