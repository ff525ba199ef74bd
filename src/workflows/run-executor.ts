import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DataSource } from 'typeorm';
import type { Logger } from '../observability/logger';
import type { Queue } from '../queue/queue';
import type { WorkflowDefinition } from './definition';
import { enqueueRun, ensureRunQueue, RUN_QUEUE, RunJob } from './run-queue';
import { SIGNING_SECRETS_SQL } from './signing';
import { RunContext, runStep, StepFailed } from './step-runners';
import type { StepResult } from './workflow-run.entity';

export interface ExecutorOptions {
  /**
   * How long a worker's claim on a run lasts without renewal. The worker renews it every third of
   * that; when a worker dies (SIGKILL, lost machine), the sweeper of any live worker finds the
   * lapsed lease and puts the run back in the queue, or fails it after `maxRecoveries`.
   * Bound: a run whose worker died leaves RUNNING at most `leaseMs` + `leaseMs / 3` after the
   * worker's last renewal (plus one sweep query).
   */
  leaseMs: number;
  /** Runs executed at once by this process. */
  concurrency: number;
  pollingIntervalSeconds?: number;
}

export const DEFAULT_MAX_RECOVERIES = 2;

/** Process-local signal "a run was just queued", so that idle local workers fetch at once instead of at their next poll. */
export const runQueuedLocally = new EventEmitter();

interface ClaimedRun {
  id: string;
  workflow_id: string;
  payload: unknown;
  step_results: Record<string, StepResult>;
  next_step: string | null;
  definition: WorkflowDefinition;
  /** The workflow's signing secrets for http steps, current first (see signing.ts). */
  signing_secrets: string[];
}

/** `UPDATE … RETURNING` through TypeORM's query() answers [rows, count] on postgres. */
const returned = <T>(result: unknown): T[] => (Array.isArray(result) && Array.isArray(result[0]) ? (result[0] as T[]) : (result as T[]));

/**
 * Puts RUNNING runs whose lease lapsed back in the queue (in the same transaction as their new
 * job), or fails them once they were recovered `maxRecoveries` times. Any worker may sweep;
 * SKIP LOCKED keeps two sweepers off the same rows. Returns how many runs it requeued and failed.
 */
export async function sweepExpiredLeases(
  db: DataSource,
  queue: Queue,
  maxRecoveries = DEFAULT_MAX_RECOVERIES,
): Promise<{ requeued: string[]; failed: string[] }> {
  return db.transaction(async (tx) => {
    const expired: Array<{ id: string; recoveries: number }> = await tx.query(
      `SELECT id, recoveries FROM workflow_runs
        WHERE status = 'RUNNING' AND lease_until < now()
        ORDER BY lease_until LIMIT 100 FOR UPDATE SKIP LOCKED`,
    );
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const run of expired) {
      if (run.recoveries < maxRecoveries) {
        await tx.query(
          `UPDATE workflow_runs SET status = 'QUEUED', recoveries = recoveries + 1, lease_token = NULL, lease_until = NULL
            WHERE id = $1`,
          [run.id],
        );
        await enqueueRun(queue, tx, run.id);
        requeued.push(run.id);
      } else {
        await tx.query(
          `UPDATE workflow_runs
              SET status = 'FAILED', finished_at = now(), lease_token = NULL, lease_until = NULL,
                  error = $2
            WHERE id = $1`,
          [run.id, `The worker running this run stopped responding ${run.recoveries + 1} times; giving up`],
        );
        failed.push(run.id);
      }
    }
    // Expired idempotency keys are overwritten on reuse; this only keeps the table small.
    await tx.query(
      `DELETE FROM workflow_idempotency_keys
        WHERE ctid IN (SELECT ctid FROM workflow_idempotency_keys WHERE expires_at < now() LIMIT 1000)`,
    );
    return { requeued, failed };
  });
}

/**
 * Runs `sweepExpiredLeases` every third of the lease. It runs in every process that starts
 * background work (gateway with or without worker, and `alloy worker`), so a run whose worker
 * died leaves RUNNING as long as any Alloy process is up, even when no other worker is.
 */
export class LeaseSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly db: DataSource,
    private readonly queue: Queue,
    private readonly logger: Logger,
    private readonly options: { leaseMs: number; maxRecoveries?: number },
  ) {}

  start(): void {
    const every = Math.max(500, Math.floor(this.options.leaseMs / 3));
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = sweepExpiredLeases(this.db, this.queue, this.options.maxRecoveries)
        .then(({ requeued, failed }) => {
          if (requeued.length || failed.length) this.logger.warn({ requeued, failed }, 'recovered runs of unresponsive workers');
        })
        .catch((error) => this.logger.error({ err: error }, 'lease sweep failed'))
        .finally(() => (this.sweeping = undefined));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }
}

/**
 * The workflow run executor: pg-boss workers that run each queued run's steps from `next_step`
 * along `next`, holding a renewed lease on the run while they do (see LeaseSweeper for the rest).
 * Stopping lets each current step finish, saves the progress and puts the run back in the queue.
 */
export class RunExecutor {
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly workerIds: string[] = [];
  private readonly onLocalRun = () => this.workerIds.forEach((id) => this.queue.notifyWorker(id));

  constructor(
    private readonly db: DataSource,
    private readonly queue: Queue,
    private readonly logger: Logger,
    private readonly options: ExecutorOptions,
  ) {}

  private get leaseSeconds(): number {
    return this.options.leaseMs / 1000;
  }

  async start(): Promise<void> {
    await ensureRunQueue(this.queue);
    for (let i = 0; i < this.options.concurrency; i++) {
      const id = await this.queue.work<RunJob>(
        RUN_QUEUE,
        { batchSize: 1, pollingIntervalSeconds: this.options.pollingIntervalSeconds ?? 1 },
        async (jobs) => {
          for (const job of jobs) await this.track(this.execute(job.data.runId));
        },
      );
      this.workerIds.push(id);
    }
    runQueuedLocally.on('queued', this.onLocalRun);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    runQueuedLocally.off('queued', this.onLocalRun);
    await this.queue.offWork(RUN_QUEUE);
    await Promise.allSettled([...this.inFlight]);
  }

  private async track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  /** Runs one queued run to its end (or to the current step's end when stopping). */
  async execute(runId: string): Promise<void> {
    // A job fetched while stopping is handed on as a fresh job rather than failed: pg-boss may be
    // closing and could lose the failure, leaving the job active until it expires.
    if (this.stopping) return this.requeueUnclaimed(runId);
    const token = randomUUID();
    const claimed = returned<ClaimedRun>(
      await this.db.query(
        `UPDATE workflow_runs r
            SET status = 'RUNNING', started_at = COALESCE(r.started_at, now()), lease_token = $2,
                lease_until = now() + make_interval(secs => $3)
           FROM workflows w, workflow_versions v
          WHERE r.id = $1 AND r.status = 'QUEUED' AND w.id = r.workflow_id
            -- The definition of the version the run started with, not the workflow's current one:
            -- alloy workflow update never changes a run that already started.
            AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
        RETURNING r.id, r.workflow_id, r.payload, r.step_results, r.next_step, v.definition, ${SIGNING_SECRETS_SQL}`,
        [runId, token, this.leaseSeconds],
      ),
    )[0];
    // Not QUEUED: a duplicate delivery of a run that another worker holds or finished.
    if (!claimed) return;

    let leaseLost = false;
    const renew = setInterval(() => {
      this.db
        .query(`UPDATE workflow_runs SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_token = $2`, [
          runId,
          token,
          this.leaseSeconds,
        ])
        .then((result) => {
          if (returnedCount(result) === 0) leaseLost = true;
        })
        .catch((error) => this.logger.warn({ err: error, runId }, 'could not renew a run lease'));
    }, Math.max(200, Math.floor(this.options.leaseMs / 3)));
    try {
      await this.runSteps(claimed, token, () => leaseLost);
    } finally {
      clearInterval(renew);
    }
  }

  private async runSteps(run: ClaimedRun, token: string, leaseLost: () => boolean): Promise<void> {
    const steps = { ...(run.step_results ?? {}) };
    let stepId = run.next_step;
    const context = (): RunContext => ({ run: { id: run.id, workflowId: run.workflow_id }, payload: run.payload, steps });
    for (let executed = 0; stepId !== null; executed++) {
      if (leaseLost()) return;
      if (this.stopping) return this.release(run.id, token, steps, stepId);
      const step = run.definition.steps[stepId];
      if (!step || executed > Object.keys(run.definition.steps).length) {
        return this.finish(run.id, token, steps, { status: 'FAILED', error: `The workflow has no step "${stepId}"` });
      }
      let result: StepResult;
      try {
        result = await runStep(stepId, step, context(), run.signing_secrets);
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        steps[stepId] = error.result;
        return this.finish(run.id, token, steps, { status: 'FAILED', error: error.message });
      }
      steps[stepId] = result;
      const next = step.next ?? null;
      if (next === null) return this.finish(run.id, token, steps, { status: 'SUCCEEDED', output: result.output });
      const saved = await this.db.query(
        `UPDATE workflow_runs SET step_results = $3::json, next_step = $4 WHERE id = $1 AND lease_token = $2`,
        [run.id, token, JSON.stringify(steps), next],
      );
      if (returnedCount(saved) === 0) return; // the lease was taken over: another worker owns the run now
      stepId = next;
    }
  }

  private async finish(
    runId: string,
    token: string,
    steps: Record<string, StepResult>,
    end: { status: 'SUCCEEDED' | 'FAILED'; output?: unknown; error?: string },
  ): Promise<void> {
    await this.db.query(
      `UPDATE workflow_runs
          SET status = $3, output = $4::json, error = $5, step_results = $6::json, next_step = NULL,
              finished_at = now(), lease_token = NULL, lease_until = NULL
        WHERE id = $1 AND lease_token = $2`,
      [
        runId,
        token,
        end.status,
        end.output === undefined || end.output === null ? null : JSON.stringify(end.output),
        end.error ?? null,
        JSON.stringify(steps),
      ],
    );
  }

  private async requeueUnclaimed(runId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [queued] = await tx.query(`SELECT 1 FROM workflow_runs WHERE id = $1 AND status = 'QUEUED' FOR UPDATE`, [runId]);
      if (queued) await enqueueRun(this.queue, tx, runId);
    });
  }

  /** Stopping: the finished steps are kept and the run goes back to the queue at the next step. */
  private async release(runId: string, token: string, steps: Record<string, StepResult>, nextStep: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE workflow_runs SET status = 'QUEUED', step_results = $3::json, next_step = $4, lease_token = NULL, lease_until = NULL
          WHERE id = $1 AND lease_token = $2`,
        [runId, token, JSON.stringify(steps), nextStep],
      );
      if (returnedCount(result) === 1) await enqueueRun(this.queue, tx, runId);
    });
  }
}

/** Rows changed by an UPDATE through TypeORM's query(): [rows, count] on postgres. */
function returnedCount(result: unknown): number {
  return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
}
