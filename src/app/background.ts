import type { Services } from './services';
import type { Logger } from '../observability/logger';
import { RunExecutor } from '../workflows/run-executor';

/** Something that runs beside the HTTP server (queue consumers, sweepers) and stops on shutdown. */
export interface BackgroundTask {
  name: string;
  /** Finish the current unit of work, take no more, and resolve. */
  stop(): Promise<void>;
}

export interface BackgroundOptions {
  /** Run the workflow executor in this process (`alloy serve --no-worker` turns it off). */
  workflows: boolean;
}

/** Starts every background consumer this process should run. */
export async function startBackgroundWork(services: Services, logger: Logger, options: BackgroundOptions): Promise<BackgroundTask[]> {
  const tasks: BackgroundTask[] = [];
  if (options.workflows) {
    const executor = new RunExecutor(services.db, services.queue, logger, {
      leaseMs: services.config.workflowLeaseSeconds * 1000,
      concurrency: services.config.workflowConcurrency,
    });
    await executor.start();
    tasks.push({ name: 'workflow executor', stop: () => executor.stop() });
  }
  return tasks;
}
