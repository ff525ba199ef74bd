import type { Services } from './services';
import type { Logger } from '../observability/logger';

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
export async function startBackgroundWork(_services: Services, _logger: Logger, _options: BackgroundOptions): Promise<BackgroundTask[]> {
  const tasks: BackgroundTask[] = [];
  return tasks;
}
