import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import { defineJob } from '../queue/job';

/**
 * Folds the count deltas that triggers on workflow_runs and conversations insert (migration
 * 1765800000000) into the counts, so that a count sums a few rows per status and day plus at most
 * about ten seconds of changes. Counts are exact with or without it; it only keeps them cheap.
 */
export const compactCountsJob = defineJob<object>({
  name: 'teammates.compact-counts',
  options: { policy: 'singleton', retryLimit: 3, retryDelay: 10 },
  work: { batchSize: 1, pollingIntervalSeconds: 2 },
  everySeconds: 10,
});

const COMPACT = statement('teammates.compact-counts', `SELECT request_log_counts_compact() AS folded`);

/** How many delta rows were folded. */
export async function compactCounts(db: DataSource): Promise<number> {
  const row = await new StatementRunner(db).first<{ folded: string }>(COMPACT, []);
  return Number(row?.folded ?? 0);
}
