import type { EntityManager } from 'typeorm';
import { inTransaction, Queue } from '../queue/queue';

/** The pg-boss queue of workflow runs; a job carries only the run id, the run row holds the rest. */
export const RUN_QUEUE = 'workflow-runs';

export interface RunJob {
  runId: string;
}

/**
 * pg-boss settings of the run queue. A job whose handler throws (e.g. the database blinked while
 * claiming the run) is retried. A worker killed mid-run is handled by the run lease (see
 * run-executor.ts), not by job expiry: expiry cannot tell a slow run from a dead worker, so it
 * only has to outlast the longest possible run.
 */
const QUEUE_OPTIONS = { retryLimit: 5, retryDelay: 2, retryBackoff: true, expireInSeconds: 3 * 60 * 60 };

const created = new WeakMap<Queue, Promise<void>>();

/** pg-boss 10 silently drops jobs sent to a queue that does not exist, so create it once per process. */
export function ensureRunQueue(queue: Queue): Promise<void> {
  let ready = created.get(queue);
  if (!ready) {
    ready = queue.createQueue(RUN_QUEUE, { name: RUN_QUEUE, ...QUEUE_OPTIONS });
    ready.catch(() => created.delete(queue));
    created.set(queue, ready);
  }
  return ready;
}

/** Enqueues the run inside the caller's transaction: the job exists if and only if the transaction commits. */
export async function enqueueRun(queue: Queue, tx: EntityManager, runId: string): Promise<void> {
  await ensureRunQueue(queue);
  const jobId = await queue.send(RUN_QUEUE, { runId } satisfies RunJob, { db: inTransaction(tx) });
  if (!jobId) throw new Error(`the run queue refused the job of run ${runId}`);
}
