import type { EntityManager } from 'typeorm';
import type { Queue } from '../queue/queue';
import { enqueueObjectDeletion } from './events/object-deletion';

export const DEFAULT_DELETION_DELAY_SECONDS = 60;

/** How the tree's changes hand dropped objects to deletion: by job, sent in the transaction that dropped them. */
export class ObjectDeletions {
  /**
   * How long a replaced or deleted object outlives its row, so that downloads already streaming
   * it (through the gateway or a signed URL) can finish. Tests set 0.
   */
  delaySeconds = DEFAULT_DELETION_DELAY_SECONDS;

  constructor(private readonly queue: Queue) {}

  /** Inside `tx`: the jobs exist if and only if the transaction commits. */
  schedule(tx: EntityManager, objectKeys: string[]): Promise<void> {
    return enqueueObjectDeletion(this.queue, tx, objectKeys, this.delaySeconds);
  }

  /** Outside any transaction: tries the deletion again `seconds` from now (objects still in use). */
  later(objectKeys: string[], seconds: number): Promise<void> {
    return enqueueObjectDeletion(this.queue, undefined, objectKeys, seconds);
  }
}
