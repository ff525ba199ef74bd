import type { EntityManager } from 'typeorm';
import { inTransaction, Queue } from '../../queue/queue';

/** pg-boss queue whose jobs delete stored objects after the transaction that dropped them committed. */
export const DELETE_OBJECTS_QUEUE = 'storage.delete-objects';

export interface DeleteObjectsJob {
  keys: string[];
}

const KEYS_PER_JOB = 500;

const created: WeakMap<Queue, Promise<void>> = new WeakMap();

/** pg-boss 10 needs the queue to exist before send/work; creating it is idempotent. */
export function ensureDeletionQueue(queue: Queue): Promise<void> {
  let pending = created.get(queue);
  if (!pending) {
    pending = queue.createQueue(DELETE_OBJECTS_QUEUE, {
      name: DELETE_OBJECTS_QUEUE,
      retryLimit: 20,
      retryDelay: 5,
      retryBackoff: true,
    });
    pending.catch(() => created.delete(queue));
    created.set(queue, pending);
  }
  return pending;
}

/**
 * Inside `tx`: jobs exist if and only if the transaction commits. `delaySeconds` lets downloads
 * that were already streaming the object finish before it goes.
 */
export async function enqueueObjectDeletion(queue: Queue, tx: EntityManager, keys: string[], delaySeconds = 0): Promise<void> {
  if (keys.length === 0) return;
  await ensureDeletionQueue(queue);
  for (let at = 0; at < keys.length; at += KEYS_PER_JOB) {
    const job: DeleteObjectsJob = { keys: keys.slice(at, at + KEYS_PER_JOB) };
    await queue.send(DELETE_OBJECTS_QUEUE, job, { db: inTransaction(tx), ...(delaySeconds > 0 ? { startAfter: delaySeconds } : {}) });
  }
}
