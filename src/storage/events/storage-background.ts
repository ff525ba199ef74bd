import type { BackgroundTask } from '../../app/background';
import type { Services } from '../../app/services';
import type { Logger } from '../../observability/logger';
import { DELETE_OBJECTS_QUEUE, DeleteObjectsJob, ensureDeletionQueue } from './object-deletion';

/** Uploads older than this without a committed row are orphans (a live upload never takes this long). */
export const ORPHAN_AGE_MS = 6 * 3600 * 1000;
const SWEEP_EVERY_MS = 15 * 60 * 1000;

/** The object-deletion consumer and the orphan sweeper. */
export async function startStorageBackground(services: Services, logger: Logger): Promise<BackgroundTask[]> {
  const { queue, storage } = services;
  await ensureDeletionQueue(queue);
  const workerId = await queue.work<DeleteObjectsJob>(
    DELETE_OBJECTS_QUEUE,
    { pollingIntervalSeconds: 0.5, batchSize: 4 },
    async (jobs) => {
      for (const job of jobs) await storage.deleteObjects(job.data.keys);
    },
  );

  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = storage
      .sweepOrphans(ORPHAN_AGE_MS)
      .then((swept) => swept && logger.info({ swept }, 'reclaimed orphaned upload objects'))
      .catch((error) => logger.warn({ err: error }, 'orphan sweep failed; will retry'));
  };
  sweep(); // whatever a crash of the previous run left behind
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();

  return [
    {
      name: 'storage object deletion',
      stop: () => queue.offWork({ id: workerId }),
    },
    {
      name: 'storage orphan sweeper',
      async stop() {
        clearInterval(timer);
        await sweeping;
      },
    },
  ];
}
