import type { Logger } from '../observability/logger';

/** What a process started, stopped in reverse order; a step that fails is logged and the rest still run. */
export class ShutdownSteps {
  private readonly steps: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  push(name: string, stop: () => Promise<unknown>): void {
    this.steps.push({ name, stop });
  }

  /** Runs once, however often it is called. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          this.logger.debug({ step: step.name }, 'stopping');
          await step.stop();
        } catch (error) {
          this.logger.error({ err: error, step: step.name }, 'error while stopping');
        }
      }
    })();
    return this.stopping;
  }
}
