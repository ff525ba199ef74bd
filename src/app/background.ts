import type { Services } from './services';
import type { Logger } from '../observability/logger';
import { JobRunner } from '../queue/job-runner';
import { LeaseSweeper, RunExecutor } from '../workflows/run-executor';
import { processJobs } from './jobs';

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
  const jobs = new JobRunner(services.queue, logger);
  await jobs.start(processJobs(services, logger));
  tasks.push({ name: 'queued jobs', stop: () => jobs.stop() });
  const leaseMs = services.config.workflowLeaseSeconds * 1000;
  const callbacks = { queue: services.queue, retryDelaySeconds: services.config.callbackRetryDelaySeconds };
  // Every process sweeps lapsed run leases, so a dead worker's run is recovered even with no other worker up.
  const sweeper = new LeaseSweeper(services.db, logger, { leaseMs, callbacks });
  sweeper.start();
  tasks.push({ name: 'workflow lease sweeper', stop: () => sweeper.stop() });
  if (options.workflows) {
    const executor = new RunExecutor(services.db, services.runEvents, logger, {
      leaseMs,
      concurrency: services.config.workflowConcurrency,
      callbacks,
      files: services.storage.snapshots,
    });
    await executor.start();
    tasks.push({ name: 'workflow executor', stop: () => executor.stop() });
  }
  return tasks;
}
