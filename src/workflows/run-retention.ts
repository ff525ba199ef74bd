import type { DataSource } from 'typeorm';
import { PgError, pgCode } from '../db/postgres-errors';
import { statement, StatementRunner } from '../db/statements';
import { defineJob } from '../queue/job';

/**
 * Removes finished runs older than `RUN_RETENTION_DAYS` (their request logs are these runs;
 * their stored events go with them). Run by the workers every few minutes and at start.
 *
 * Runs and their events are partitioned by day (migration 1765900000000): every day partition
 * wholly older than the cut-off is dropped whole, which leaves no dead tuples for the claim and
 * the next pass to step over. A day that still holds a QUEUED or RUNNING run, or a run finished
 * after the cut-off, is not dropped (it is dropped at a later pass once they have finished and
 * aged); the runs of such days and of the day straddling the cut-off are deleted row by row, as
 * before partitioning.
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
/**
 * Dropping a partition takes an exclusive lock on the runs table for an instant; while it waits
 * for queries in flight, later ones (claims, starts) queue behind it. It waits this long at most
 * and tries again at the next pass.
 */
const DROP_LOCK_WAIT = '1s';

const SQL = {
  lockWait: statement('workflows.retention-lock-wait', `SELECT set_config('lock_timeout', '${DROP_LOCK_WAIT}', true)`),
  /** The oldest droppable day (migration 1765900000000), or null. */
  dropDay: statement(
    'workflows.drop-expired-run-partition',
    `SELECT alloy_drop_expired_run_partition(now() - make_interval(days => $1::int))::text AS day`,
  ),
  /*
   * One batch: a short transaction that locks only finished rows (the claim path never touches
   * them) found through the finished-runs index of each partition, oldest first (a partition
   * newer than the cut-off answers from one index page).
   */
  deleteBatch: statement(
    'workflows.delete-expired-runs',
    `DELETE FROM workflow_runs
      WHERE (id, created_at) IN (
              SELECT id, created_at FROM workflow_runs
               WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND finished_at < now() - make_interval(days => $1::int)
               ORDER BY finished_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)`,
    { genericPlan: true },
  ),
};

/** What a retention pass removed: whole days, and runs deleted one by one. */
export interface RetentionOutcome {
  droppedDays: string[];
  deleted: number;
}

/** Removes every expired run: whole days first, then the rest in batches. `days` 0 keeps everything. */
export async function deleteExpiredRuns(db: DataSource, days: number, batch = BATCH): Promise<RetentionOutcome> {
  const outcome: RetentionOutcome = { droppedDays: [], deleted: 0 };
  if (days <= 0) return outcome;
  const sql = new StatementRunner(db);
  for (;;) {
    const day = await sql
      .transaction(async (tx) => {
        await sql.run(SQL.lockWait, [], tx);
        return (await sql.first<{ day: string | null }>(SQL.dropDay, [days], tx))?.day ?? null;
      })
      .catch((error: unknown) => {
        // The lock was not had in time: the next pass drops the day.
        if (pgCode(error) === PgError.LOCK_NOT_AVAILABLE) return null;
        throw error;
      });
    if (!day) break;
    outcome.droppedDays.push(day);
  }
  for (;;) {
    const count = (await sql.run(SQL.deleteBatch, [days, batch])).rowCount ?? 0;
    outcome.deleted += count;
    if (count < batch) return outcome;
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
}
