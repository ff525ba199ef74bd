import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import { defineJob } from '../queue/job';

/**
 * Deletes finished runs older than `RUN_RETENTION_DAYS` (their request logs are these runs, and
 * their idempotency keys and stored events go with them by cascade). Run by the workers every few minutes and at
 * start.
 */
export const runRetentionJob = defineJob<object>({
  name: 'workflows.run-retention',
  options: { policy: 'singleton', retryLimit: 3, retryDelay: 60 },
  work: { batchSize: 1, pollingIntervalSeconds: 5 },
  everySeconds: 10 * 60,
});

const BATCH = 1000;
/** Between batches, so that a large backlog never holds the disk and WAL for long at a stretch. */
const PAUSE_MS = 50;

/*
 * One batch: a short transaction that locks only finished rows (the claim path never touches
 * them) found through the finished-runs index, oldest first.
 */
const DELETE_BATCH = statement(
  'workflows.delete-expired-runs',
  `DELETE FROM workflow_runs
    WHERE id IN (SELECT id FROM workflow_runs
                  WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND finished_at < now() - make_interval(days => $1::int)
                  ORDER BY finished_at LIMIT $2
                  FOR UPDATE SKIP LOCKED)`,
);

/** Deletes every expired run, in batches; how many. `days` 0 keeps everything. */
export async function deleteExpiredRuns(db: DataSource, days: number, batch = BATCH): Promise<number> {
  if (days <= 0) return 0;
  const sql = new StatementRunner(db);
  let deleted = 0;
  for (;;) {
    const count = (await sql.run(DELETE_BATCH, [days, batch])).rowCount ?? 0;
    deleted += count;
    if (count < batch) return deleted;
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
}
