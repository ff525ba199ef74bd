import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import { defineJob } from '../queue/job';

/*
 * `workflow_runs` and `workflow_run_events` are partitioned by UTC day of the run's creation
 * (migration 1765900000000), with no DEFAULT partition (so that Postgres reads the days in order
 * for request-log pages and the claim): a run can only start on a day that has its partition.
 * This job creates them ahead, hourly and at every start of a process that runs jobs, and the
 * retention job does too; run-retention.ts drops the expired days.
 */

/** Days ahead whose partitions exist: the job would have to fail for a week before a start fails. */
export const PARTITION_DAYS_AHEAD = 7;

export const runPartitionsJob = defineJob<object>({
  name: 'workflows.run-partitions',
  options: { policy: 'singleton', retryLimit: 3, retryDelay: 60 },
  work: { batchSize: 1, pollingIntervalSeconds: 30 },
  everySeconds: 60 * 60,
});

const CREATE_AHEAD = statement(
  'workflows.create-run-partitions',
  `SELECT alloy_create_run_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + $1::int) AS created`,
);

/** Creates the missing day partitions from yesterday (a gateway's clock behind at midnight) through PARTITION_DAYS_AHEAD days ahead; how many days. */
export async function createRunPartitions(db: DataSource, daysAhead = PARTITION_DAYS_AHEAD): Promise<number> {
  return (await new StatementRunner(db).first<{ created: number }>(CREATE_AHEAD, [daysAhead]))?.created ?? 0;
}

/**
 * The condition that keeps a lookup of run `id` to the partition that holds it: the run's
 * created_at is its id's time (run_time_lo and run_time_hi widen that for runs made before the
 * partitioning), and both are immutable functions of the id, so that Postgres prunes the other
 * partitions when it starts the plan, generic plans of named statements included.
 */
export function runTimeOf(createdAt: string, id: string): string {
  return `${createdAt} BETWEEN run_time_lo(${id}) AND run_time_hi(${id})`;
}

/**
 * The same for the runs of an array of ids joined in (`held.id` of `unnest($1)`): the span of
 * their times, read once per statement, which prunes the partitions outside it whatever join the
 * planner picks (a worker's runs are of the last day or two), and each row's own bounds.
 */
export function runTimesOf(createdAt: string, id: string, ids: string): string {
  return `${runTimeOf(createdAt, id)}
        AND ${createdAt} BETWEEN (SELECT min(run_time_lo(i)) FROM unnest(${ids}) AS i) AND (SELECT max(run_time_hi(i)) FROM unnest(${ids}) AS i)`;
}
