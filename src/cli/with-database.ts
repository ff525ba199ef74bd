import type { DataSource } from 'typeorm';
import { loadConfig, Config } from '../config/config';
import { databaseForProcess } from '../db/database-for-process';
import { entities } from '../app/entities';
import { openDatabase } from '../db/data-source';
import { createLogger, Logger } from '../observability/logger';

export interface CliContext {
  config: Config;
  db: DataSource;
  url: string;
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

/** Opens the database (applying migrations), runs one command, and closes everything. */
export async function withDatabase<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Logs go to stderr so that stdout carries only the command's output.
  const logger = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', undefined, { format: config.logFormat, stream: 'stderr' });
  const database = await databaseForProcess(config, logger, { command: commandName(), exclusive: false });
  try {
    const { dataSource, applied } = await openDatabase({ url: database.url, entities, poolSize: 4, applicationName: 'alloy-cli' });
    try {
      return await fn({ config, db: dataSource, url: database.url, logger, applied });
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await database.release();
  }
}
