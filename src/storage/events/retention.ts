import { defineJob } from '../../queue/job';

/**
 * Storage retention: deletes versions past FILE_VERSIONS_KEEP and FILE_VERSION_DAYS, then purges
 * trash items older than TRASH_RETENTION_DAYS, in batches of short transactions; the objects go
 * through the deletion jobs sent in those transactions. Every few minutes and at start.
 */
export const storageRetentionJob = defineJob<object>({
  name: 'storage.retention',
  options: { policy: 'singleton', retryLimit: 3, retryDelay: 60 },
  work: { batchSize: 1, pollingIntervalSeconds: 5 },
  everySeconds: 10 * 60,
});
