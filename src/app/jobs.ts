import type { RegisteredJob } from '../queue/job';
import type { Logger } from '../observability/logger';
import { deleteObjectsJob } from '../storage/events/object-deletion';
import { extractPendingTextsJob } from '../storage/events/extract-text';
import { ORPHAN_AGE_MS, sweepOrphansJob } from '../storage/events/orphan-sweep';
import { storageRetentionJob } from '../storage/events/retention';
import { deleteExpiredRuns, runRetentionJob } from '../workflows/run-retention';
import { createRunPartitions, runPartitionsJob } from '../workflows/run-partitions';
import { deliverCallback, runCallbackJob } from '../workflows/run-callbacks';
import { compactCounts, compactCountsJob } from '../teammates/count-compaction';
import type { Services } from './services';

/** Every kind of queued job, with its handler: the list the job runner starts in each process. */
export function processJobs(services: Services, logger: Logger): RegisteredJob[] {
  const { storage, db, config } = services;
  return [
    deleteObjectsJob.handledBy((job) => storage.deleteObjects(job.keys)),
    sweepOrphansJob.handledBy(async () => {
      const swept = await storage.sweepOrphans(ORPHAN_AGE_MS);
      if (swept) logger.info({ swept }, 'reclaimed orphaned upload objects');
    }),
    extractPendingTextsJob.handledBy(() =>
      storage.texts.drain({
        // A file its reader refuses fails only its own extraction; the reason is here, not in the API.
        read: (outcome) => {
          if (outcome.status === 'FAILED') logger.warn({ entryId: outcome.entryId, reason: outcome.reason }, 'text extraction failed');
        },
        failed: (entryId, error, willRetry) =>
          logger.warn({ entryId, err: error, willRetry }, willRetry ? 'text extraction will be retried' : 'text extraction gave up'),
      }),
    ),
    storageRetentionJob.handledBy(async () => {
      const expired = await storage.expire();
      if (expired.versionFiles || expired.trashItems) logger.info(expired, 'removed expired file versions and trash items');
    }),
    runRetentionJob.handledBy(async () => {
      // The partitions ahead too: a second chance, every 10 minutes, if their own job is failing.
      await createRunPartitions(db);
      const { droppedDays, deleted } = await deleteExpiredRuns(db, config.runRetentionDays);
      if (droppedDays.length || deleted) {
        logger.info({ droppedDays, deleted, days: config.runRetentionDays }, 'removed finished runs past their retention');
      }
    }),
    runPartitionsJob.handledBy(async () => {
      const created = await createRunPartitions(db);
      if (created) logger.info({ created }, 'created the day partitions of runs ahead');
    }),
    runCallbackJob.handledBy((job) => deliverCallback(db, job.runId)),
    compactCountsJob.handledBy(async () => {
      await compactCounts(db);
    }),
  ] as RegisteredJob[];
}
