import type PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import { inTransaction, type Queue } from './queue';

/** How one kind of background job is queued and fetched; the handler is given by the process. */
export interface JobSpec {
  /** The pg-boss queue name, `<capability>.<what>`. */
  name: string;
  /** Retries, backoff, policy of the queue. */
  options: Omit<PgBoss.Queue, 'name'>;
  /** How a process fetches jobs of this kind. */
  work: { batchSize: number; pollingIntervalSeconds: number };
  /**
   * A periodic job: every process that runs jobs sends it once at start and then every
   * `everySeconds`; pg-boss keeps it to one job per period across all processes.
   */
  everySeconds?: number;
}

/** A job kind with its handler, as the process's job list (src/app/jobs.ts) holds it. */
export interface RegisteredJob<T extends object = object> {
  spec: JobSpec;
  handle(data: T): Promise<void>;
}

export interface JobKind<T extends object> extends JobSpec {
  /** Sends a job; with `tx`, it exists if and only if that transaction commits. */
  send(
    queue: Queue,
    data: T,
    options?: { tx?: EntityManager; startAfterSeconds?: number; retry?: { limit: number; delaySeconds: number } },
  ): Promise<void>;
  handledBy(handle: (data: T) => Promise<void>): RegisteredJob<T>;
}

/** Creates the job's pg-boss queue once per process (the queue instance remembers, see Queue.ensure). */
export function ensureJobQueue(queue: Queue, spec: JobSpec): Promise<void> {
  return queue.ensure(spec.name, spec.options);
}

export function defineJob<T extends object>(spec: JobSpec): JobKind<T> {
  return {
    ...spec,
    async send(queue, data, options = {}) {
      await ensureJobQueue(queue, spec);
      await queue.send(spec.name, data, {
        ...(options.tx ? { db: inTransaction(options.tx) } : {}),
        ...(options.startAfterSeconds ? { startAfter: options.startAfterSeconds } : {}),
        // This job's own retries, over its queue's (a setting of the process, e.g. callbacks' first delay).
        ...(options.retry ? { retryLimit: options.retry.limit, retryDelay: options.retry.delaySeconds, retryBackoff: true } : {}),
      });
    },
    handledBy(handle) {
      return { spec, handle };
    },
  };
}
