import path from 'node:path';
import type { Config } from '../config/config';
import { databaseForProcess, dataDirHeldBy, dataDirInUse } from '../db/database-for-process';
import { openDatabase } from '../db/data-source';
import { entities } from './entities';
import { gatewaySchema } from './schema';
import { startGateway } from '../http/gateway';
import { createLogger, Logger } from '../observability/logger';
import { startQueue } from '../queue/queue';
import { startBackgroundWork } from './background';
import { createAdmin, createServices } from './services';
import { ShutdownSteps } from './shutdown-steps';
import { listenError } from '../config/startup-error';
import { listenProblem } from '../net/port-check';

export interface RunOptions {
  http: boolean;
  workflows: boolean;
}

/**
 * `npm start`, `alloy serve` and `alloy worker`: open (or start) the database, apply migrations,
 * start the queue, the background work and the HTTP gateway. SIGINT (Ctrl-C, which the terminal
 * sends to the whole foreground process group; the embedded database runs in a session of its
 * own and never gets it) and SIGTERM stop them in reverse order: stop accepting and drain requests,
 * let the worker finish its step and hand the run back, stop the queue, close the pool, stop the
 * database; then exit 0. A signal during start-up stops what has started so far. A start-up
 * failure stops the same way and is rethrown, for the CLI to report in one line (exit 1).
 */
export async function run(config: Config, options: RunOptions): Promise<void> {
  const logger = createLogger(config.logLevel, undefined, { format: config.logFormat });
  const steps = new ShutdownSteps(logger);
  let signalled = false;
  let startup: Promise<unknown> = Promise.resolve();
  const onSignal = (signal: NodeJS.Signals) => {
    // npm, or a second Ctrl-C, may send it again: one shutdown is under way.
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'shutting down');
    void startup
      .catch(() => undefined)
      .then(() => steps.stopAll())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  startup = start(config, options, logger, steps, () => signalled);
  try {
    await startup;
  } catch (error) {
    if (signalled) return; // stopping anyway; the signal handler exits
    await steps.stopAll();
    throw error;
  }
}

/**
 * The port is checked before anything starts: a port in use is told in a second instead of after
 * an embedded database was created and migrated. Taken by a gateway that holds this data directory
 * (started twice by mistake), that one is named, as the data directory's lock would.
 */
async function checkPort(config: Config): Promise<void> {
  const problem = await listenProblem(config.host, config.port);
  if (!problem) return;
  const holder = config.databaseUrl ? null : dataDirHeldBy(config.dataDir);
  if (holder) throw dataDirInUse(config.dataDir, holder);
  throw listenError(problem, config) ?? problem;
}

async function start(config: Config, options: RunOptions, logger: Logger, steps: ShutdownSteps, stopping: () => boolean): Promise<void> {
  if (options.http) await checkPort(config);
  const database = await databaseForProcess(config, logger, { command: options.http ? 'serve' : 'worker', exclusive: true });
  steps.push('database server', () => database.release());
  if (stopping()) return;
  const { dataSource, applied } = await openDatabase({ url: database.url, entities });
  steps.push('database pool', () => dataSource.destroy());
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  if (stopping()) return;

  const queue = await startQueue(database.url, logger);
  steps.push('queue', () => queue.stop({ graceful: true, wait: true, timeout: 20_000 }));
  const services = createServices(dataSource, config, queue, logger);
  await services.start();
  steps.push('notifications and caches', () => services.stop());

  const tasks = await startBackgroundWork(services, logger, { workflows: options.workflows });
  for (const task of tasks) steps.push(task.name, () => task.stop());
  if (stopping()) return;

  if (!options.http) {
    logger.info({ workflows: options.workflows }, 'worker started');
    return;
  }
  // First start's organization is an admin act, done here rather than by the gateway.
  const { organizations } = createAdmin(services);
  const created = await organizations.createFirstOrganization('My organization');
  const oldest = created ? null : await organizations.oldestOrganization();
  let gateway;
  try {
    gateway = await startGateway({ schema: await gatewaySchema(), services, logger });
  } catch (error) {
    throw listenError(error, config) ?? error;
  }
  steps.push('http', () => gateway.close());
  database.announce(gateway.url);
  announce(logger, gateway.url, created ?? oldest, database.embedded ? config.dataDir : null);
}

type Organization = { orgId: string; apiKey: string } | { orgId: string; name: string; total: number };

/**
 * The ready banner: on first start the new organization's key (shown this once); on a later start
 * the organization and the command that makes it a new key, since a lost key cannot be shown again.
 */
function announce(logger: Logger, url: string, organization: Organization | null, embeddedDataDir: string | null) {
  const lines = [`Alloy gateway ready: ${url}/graphql`, `Playground: open ${url}/graphql in a browser`];
  if (organization && 'apiKey' in organization) {
    lines.push(
      `Created organization ${organization.orgId}. Its API key is shown only once; keep it somewhere safe:`,
      `API key: ${organization.apiKey}`,
    );
  } else if (organization) {
    const others = organization.total > 1 ? ` (and ${organization.total - 1} more: npx --no -- alloy org list)` : '';
    lines.push(
      `Organization ${organization.orgId} (${JSON.stringify(organization.name)})${others}. ` +
        `Lost its API key? Make a new one: npx --no -- alloy key create --org ${organization.orgId}`,
    );
  }
  if (embeddedDataDir) {
    const shown = path.relative(process.cwd(), embeddedDataDir) || '.';
    lines.push(
      `Database: embedded PostgreSQL under ${shown.startsWith('..') ? embeddedDataDir : shown}/ (set DATABASE_URL to use your own)`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ url }, 'listening');
}
