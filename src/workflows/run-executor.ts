import type { DataSource } from 'typeorm';
import type { Logger } from '../observability/logger';
import type { RunEvents } from './run-events';
import { ClaimedRun, DEFAULT_MAX_RECOVERIES, Lease, RunStateMachine } from './run-state';
import { StatementRunner } from '../db/statements';
import { conversationContext } from './conversation-context';
import { contextFiles, RunFileSource } from './run-files';
import { RunContext, runStep, StepFailed } from './step-runners';
import type { StepResult } from './workflow-run.entity';

export interface ExecutorOptions {
  /**
   * How long a worker's claim on a run lasts without renewal. The worker renews its leases every
   * third of that; when a worker dies (SIGKILL, lost machine), the sweeper of any live process
   * finds the lapsed lease and puts the run back in the queue, or fails it after `maxRecoveries`.
   * Bound: a run whose worker died leaves RUNNING at most `leaseMs` + `leaseMs / 3` after the
   * worker's last renewal (plus one sweep query).
   */
  leaseMs: number;
  /** Runs executed at once by this process. */
  concurrency: number;
  /**
   * The fallback poll, for a notification lost while the listening connection was down. Queued
   * runs are normally claimed as soon as their insert is announced.
   */
  pollMs?: number;
  /** Signs the links of files handed to runs (storage's FileSnapshots); needed only when runs are given files. */
  files?: RunFileSource;
}

const DEFAULT_POLL_MS = 2_000;
/** After a failed claim (the database away), wait this long before the next, doubling up to 30 s. */
const CLAIM_RETRY_MS = 500;

/**
 * Executes queued runs: claims up to its free slots at once from `workflow_runs` whenever a run is
 * announced as QUEUED (or a slot frees up, or the fallback poll fires), runs each one's steps from
 * `next_step` along `next`, and renews all its leases in one statement every third of the lease.
 * Stopping lets each current step finish, saves the progress and hands the run back to the queue.
 */
export class RunExecutor {
  private readonly runs: RunStateMachine;
  private readonly sql: StatementRunner;
  private stopping = false;
  private readonly held = new Map<string, { lease: Lease; lost: boolean }>();
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pendingWake = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    db: DataSource,
    private readonly events: RunEvents,
    private readonly logger: Logger,
    private readonly options: ExecutorOptions,
  ) {
    this.runs = new RunStateMachine(db);
    this.sql = new StatementRunner(db);
  }

  private get leaseSeconds(): number {
    return this.options.leaseMs / 1000;
  }

  async start(): Promise<void> {
    this.unwatch = this.events.watchAll({
      onEvent: (event) => event.status === 'QUEUED' && this.poke(),
      onReconnect: () => this.poke(),
    });
    await this.events.start();
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(200, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
    this.loop = this.claimLoop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatch?.();
    this.poke();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    clearInterval(this.renewTimer);
  }

  /** Wakes the claim loop now, or makes its next wait return at once if it is busy claiming. */
  private poke(): void {
    if (this.wake) this.wake();
    else this.pendingWake = true;
  }

  private sleep(ms: number): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        if (this.wake === finish) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
    });
  }

  private async claimLoop(): Promise<void> {
    let retryMs = CLAIM_RETRY_MS;
    while (!this.stopping) {
      const free = this.options.concurrency - this.held.size;
      if (free <= 0) {
        await this.sleep(this.options.pollMs ?? DEFAULT_POLL_MS);
        continue;
      }
      let claimed: ClaimedRun[];
      try {
        claimed = await this.runs.claim(free, this.leaseSeconds);
        retryMs = CLAIM_RETRY_MS;
      } catch (error) {
        this.logger.warn({ err: error }, 'could not claim queued runs; retrying');
        await this.sleep(retryMs);
        retryMs = Math.min(retryMs * 2, 30_000);
        continue;
      }
      for (const run of claimed) this.track(run);
      // A full batch: more may be waiting, so claim again at once.
      if (claimed.length < free) await this.sleep(this.options.pollMs ?? DEFAULT_POLL_MS);
    }
  }

  private track(run: ClaimedRun): void {
    const entry = { lease: { runId: run.id, token: run.lease_token }, lost: false };
    this.held.set(run.id, entry);
    const work = this.execute(run, () => entry.lost)
      .catch((error) =>
        this.logger.error({ err: error, runId: run.id }, 'run execution failed; its lease will lapse and the run be retried'),
      )
      .finally(() => {
        this.held.delete(run.id);
        this.inFlight.delete(work);
        this.poke(); // a slot is free
      });
    this.inFlight.add(work);
  }

  private async renewLeases(): Promise<void> {
    const entries = [...this.held.values()];
    if (entries.length === 0) return;
    try {
      const kept = await this.runs.renew(
        entries.map((e) => e.lease),
        this.leaseSeconds,
      );
      for (const entry of entries) if (!kept.has(entry.lease.runId)) entry.lost = true;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not renew run leases');
    }
  }

  private fileSource(): RunFileSource {
    if (!this.options.files) throw new Error('a run was given files but this executor has no file source');
    return this.options.files;
  }

  /** Runs a claimed run to its end (or to the current step's end when stopping). */
  private async execute(run: ClaimedRun, leaseLost: () => boolean): Promise<void> {
    const lease: Lease = { runId: run.id, token: run.lease_token };
    const steps: Record<string, StepResult> = { ...(run.step_results ?? {}) };
    let stepId = run.next_step;
    // Earlier turns are final while this one is active (one active run per conversation), so they are read once.
    const conversation = run.conversation_id
      ? await conversationContext(this.sql, run.conversation_id, { id: run.id, createdAt: run.created_at })
      : undefined;
    const context = async (at: string): Promise<RunContext> => ({
      run: { id: run.id, workflowId: run.workflow_id },
      payload: run.payload,
      steps,
      ...(conversation ? { conversation } : {}),
      // Signed anew for each step: valid for whatever the run may still take from this step on.
      ...(run.files ? { files: await contextFiles(this.fileSource(), run.files, run.definition, at) } : {}),
    });
    for (let executed = 0; stepId !== null; executed++) {
      if (leaseLost()) return;
      if (this.stopping) {
        await this.runs.release(lease, steps, stepId);
        return;
      }
      const step = run.definition.steps[stepId];
      if (!step || executed > Object.keys(run.definition.steps).length) {
        await this.runs.finish(lease, steps, { status: 'FAILED', error: `The workflow has no step "${stepId}"` });
        return;
      }
      let result: StepResult;
      try {
        result = await runStep(stepId, step, await context(stepId), run.signing_secrets);
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        steps[stepId] = error.result;
        await this.runs.finish(lease, steps, { status: 'FAILED', error: error.message });
        return;
      }
      steps[stepId] = result;
      const next = step.next ?? null;
      if (next === null) {
        await this.runs.finish(lease, steps, { status: 'SUCCEEDED', output: result.output });
        return;
      }
      // False: the lease was taken over, another worker owns the run now.
      if (!(await this.runs.saveProgress(lease, steps, next))) return;
      stepId = next;
    }
  }
}

/**
 * Runs the lease sweep every third of the lease. It runs in every process that starts background
 * work (gateway with or without worker, and `alloy worker`), so a run whose worker died leaves
 * RUNNING as long as any Alloy process is up, even when no other worker is.
 */
export class LeaseSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private readonly runs: RunStateMachine;

  constructor(
    db: DataSource,
    private readonly logger: Logger,
    private readonly options: { leaseMs: number; maxRecoveries?: number },
  ) {
    this.runs = new RunStateMachine(db);
  }

  start(): void {
    const every = Math.max(500, Math.floor(this.options.leaseMs / 3));
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.runs
        .sweepExpiredLeases(this.options.maxRecoveries ?? DEFAULT_MAX_RECOVERIES)
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
