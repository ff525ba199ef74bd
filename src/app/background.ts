import type { Services } from './services';
import type { Logger } from '../observability/logger';
import { startStorageBackground } from '../storage/events/storage-background';

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
export async function startBackgroundWork(services: Services, logger: Logger, _options: BackgroundOptions): Promise<BackgroundTask[]> {
  const tasks: BackgroundTask[] = [];
  tasks.push(...(await startStorageBackground(services, logger)));
  return tasks;
}
