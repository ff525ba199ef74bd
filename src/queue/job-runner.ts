import type { Logger } from '../observability/logger';
import { ensureJobQueue, RegisteredJob } from './job';
import type { Queue } from './queue';

/**
 * Runs the process's jobs: creates each queue, fetches its jobs, and sends each periodic job at
 * start and every period (pg-boss's `singletonSeconds` turns the sends of every process into one
 * job per period). The one way this codebase runs background work on the queue.
 */
export class JobRunner {
  private readonly workers: string[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly queue: Queue,
    private readonly logger: Logger,
  ) {}

  async start(jobs: RegisteredJob[]): Promise<void> {
    for (const job of jobs) {
      const { spec } = job;
      await ensureJobQueue(this.queue, spec);
      this.workers.push(
        await this.queue.work<object>(spec.name, spec.work, async (batch) => {
          for (const item of batch) await job.handle(item.data);
        }),
      );
      if (spec.everySeconds) {
        const every = spec.everySeconds;
        const send = () =>
          this.queue
            .send(spec.name, {}, { singletonKey: spec.name, singletonSeconds: every })
            .catch((error) => this.logger.warn({ err: error, job: spec.name }, 'could not schedule a periodic job'));
        void send();
        const timer = setInterval(send, every * 1000);
        timer.unref();
        this.timers.push(timer);
      }
    }
  }

  /** Takes no more jobs; the queue's own graceful stop waits for the ones being handled. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const id of this.workers) await this.queue.offWork({ id });
  }
}
