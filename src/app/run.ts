import path from 'node:path';
import type { Config } from '../config/config';
import { databaseForProcess } from '../db/database-for-process';
import { openDatabase } from '../db/data-source';
import { startGateway } from '../http/gateway';
import { createLogger, Logger } from '../observability/logger';
import { startQueue } from '../queue/queue';
import { startBackgroundWork } from './background';
import { createFirstOrganization } from './bootstrap';
import { createServices } from './services';

export interface RunOptions {
  http: boolean;
  workflows: boolean;
}

type Step = { name: string; stop: () => Promise<unknown> };

/**
 * `npm start`, `alloy serve` and `alloy worker`: open (or start) the database, apply migrations,
 * start the queue, the HTTP gateway and the background work, and stop them in reverse order on
 * SIGINT/SIGTERM.
 */
export async function run(config: Config, options: RunOptions): Promise<void> {
  const logger = createLogger(config.logLevel);
  const shutdownSteps: Step[] = [];
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    for (const step of shutdownSteps.reverse()) {
      try {
        await step.stop();
      } catch (error) {
        logger.error({ err: error, step: step.name }, 'error while stopping');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const database = await databaseForProcess(config, logger);
  shutdownSteps.push({ name: 'database server', stop: () => database.release() });
  const { dataSource, applied } = await openDatabase({ url: database.url });
  shutdownSteps.push({ name: 'database pool', stop: () => dataSource.destroy() });
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');

  const queue = await startQueue(database.url, logger);
  shutdownSteps.push({ name: 'queue', stop: () => queue.stop({ graceful: true, wait: true, timeout: 20_000 }) });
  const services = createServices(dataSource, config, queue, logger);
  await services.notifications.start();
  shutdownSteps.push({ name: 'notifications', stop: () => services.notifications.stop() });

  const tasks = await startBackgroundWork(services, logger, { workflows: options.workflows });
  for (const task of tasks) shutdownSteps.push({ name: task.name, stop: () => task.stop() });

  if (options.http) {
    const created = await createFirstOrganization(dataSource);
    const gateway = await startGateway({ services, logger });
    shutdownSteps.push({ name: 'http', stop: () => gateway.close() });
    announce(logger, gateway.url, created, database.embedded ? config.dataDir : null);
  } else {
    logger.info({ workflows: options.workflows }, 'worker started');
  }
}

function announce(
  logger: Logger,
  url: string,
  created: { orgId: string; apiKey: string } | null,
  embeddedDataDir: string | null,
) {
  const lines = [`Alloy gateway ready: ${url}/graphql`, `Playground: open ${url}/graphql in a browser`];
  if (created) {
    lines.push(
      `Created organization ${created.orgId}. Its API key is shown only once; keep it somewhere safe:`,
      `API key: ${created.apiKey}`,
    );
  }
  if (embeddedDataDir) {
    const shown = path.relative(process.cwd(), embeddedDataDir) || '.';
    lines.push(`Database: embedded PostgreSQL under ${shown.startsWith('..') ? embeddedDataDir : shown}/ (set DATABASE_URL to use your own)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ url }, 'listening');
}
