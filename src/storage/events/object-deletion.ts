import type { EntityManager } from 'typeorm';
import { defineJob } from '../../queue/job';
import type { Queue } from '../../queue/queue';

export interface DeleteObjectsJob {
  keys: string[];
}

/** Deletes stored objects after the transaction that dropped their rows committed. */
export const deleteObjectsJob = defineJob<DeleteObjectsJob>({
  name: 'storage.delete-objects',
  options: { retryLimit: 20, retryDelay: 5, retryBackoff: true },
  work: { batchSize: 4, pollingIntervalSeconds: 0.5 },
});

const KEYS_PER_JOB = 500;

/**
 * Inside `tx`: jobs exist if and only if the transaction commits. `delaySeconds` lets downloads
 * that were already streaming the object finish before it goes.
 */
export async function enqueueObjectDeletion(queue: Queue, tx: EntityManager | undefined, keys: string[], delaySeconds = 0): Promise<void> {
  for (let at = 0; at < keys.length; at += KEYS_PER_JOB) {
    await deleteObjectsJob.send(
      queue,
      { keys: keys.slice(at, at + KEYS_PER_JOB) },
      { ...(tx ? { tx } : {}), startAfterSeconds: delaySeconds },
    );
  }
}
