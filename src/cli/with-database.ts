import { loadConfig, Config } from '../config/config';
import { Admin, createAdmin, createServices, Services } from '../app/services';
import { startQueue } from '../queue/queue';
import { databaseForProcess } from '../db/database-for-process';
import { entities } from '../app/entities';
import { openDatabase } from '../db/data-source';
import { createLogger, Logger } from '../observability/logger';

export interface CliContext {
  config: Config;
  /** The composition root's services (src/app/services.ts), as a gateway has them; their listeners are not started. */
  services: Services;
  /** What acts across organizations by an id alone: only the CLI gets it. */
  admin: Admin;
  logger: Logger;
  applied: string[];
}

/** `key list`, from the command line: names this process in the data directory's lock. */
const commandName = (): string =>
  process.argv
    .slice(2)
    .filter((arg) => !arg.startsWith('-'))
    .slice(0, 2)
    .join(' ') || 'admin command';

/**
 * Opens the database (applying migrations) and the queue, builds the services as every process
 * does, runs one command, and closes everything. The queue is there because changes send their
 * jobs in the same transaction (an overwrite or a deleted organization hands its objects to the
 * deletion job, which whichever gateway or worker runs consumes); this process runs no job.
 */
export async function withDatabase<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Logs go to stderr so that stdout carries only the command's output.
  const logger = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', undefined, { format: config.logFormat, stream: 'stderr' });
  const database = await databaseForProcess(config, logger, { command: commandName(), exclusive: false });
  try {
    const { dataSource, applied } = await openDatabase({ url: database.url, entities, poolSize: 4, applicationName: 'alloy-cli' });
    try {
      // One connection: a command's jobs are sent on its own transactions; the queue's pool only starts and stops it.
      const queue = await startQueue(database.url, logger, { supervise: false, connections: 1 });
      try {
        const services = createServices(dataSource, config, queue, logger);
        return await fn({ config, services, admin: createAdmin(services), logger, applied });
      } finally {
        await queue.stop({ graceful: true, wait: true, timeout: 10_000 });
      }
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await database.release();
  }
}
