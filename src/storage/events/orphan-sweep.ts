import { defineJob } from '../../queue/job';

/** Uploads older than this without a committed row are orphans (a live upload never takes this long). */
export const ORPHAN_AGE_MS = 6 * 3600 * 1000;

/**
 * Reclaims what uploads that never committed left behind (see orphan-sweeper.ts); also once at
 * every start, for whatever a crash of the previous process left.
 */
export const sweepOrphansJob = defineJob<object>({
  name: 'storage.sweep-orphans',
  options: { policy: 'singleton', retryLimit: 3, retryDelay: 60 },
  work: { batchSize: 1, pollingIntervalSeconds: 5 },
  everySeconds: 15 * 60,
});
