import { requireBuiltCli } from './cli';
import { CliProcess } from './process';

/**
 * `alloy worker` as a process of its own on the test database (the compiled CLI), as on another
 * machine: it shares nothing with the test's gateway but the database. Resolves once it is taking runs.
 */
export async function startWorkerProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<CliProcess> {
  requireBuiltCli();
  const worker = new CliProcess(['worker'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', NODE_ENV: 'test', ...env });
  try {
    await worker.waitForOutput(/"msg":"worker started"/, 30_000);
  } catch (error) {
    if (worker.running) worker.child.kill('SIGKILL');
    throw error;
  }
  return worker;
}
