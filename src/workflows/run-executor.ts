import type { DataSource } from 'typeorm';
import type { Logger } from '../observability/logger';
import type { CallbackQueue } from './run-callbacks';
import { NewRunEvent, OutputCoalescer, RunEventLog } from './run-event-log';
import { RunEventType } from './run-event.type';
import { isFinalStatus, RunAnnouncer, RunEvents } from './run-events';
import { ClaimedRun, DEFAULT_MAX_RECOVERIES, Finished, Lease, RunEnd, RunStateMachine } from './run-state';
import { StatementRunner } from '../db/statements';
import { conversationContext } from './conversation-context';
import { contextFiles, RunFileSource } from './run-files';
import { runStep } from './steps';
import { RunCancelled, RunContext, StepFailed, StepResult } from './steps/step-type';

export interface ExecutorOptions {
  /** The process's one announcer of run changes (the composition root's). */
  announcer: RunAnnouncer;
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
  /** Queues completion callbacks with a run's end (the composition root always passes it). */
  callbacks?: CallbackQueue;
  /** How often the worker checks that its runs are still its own (a cancel whose announcement was lost). */
  cancelPollMs?: number;
}

const DEFAULT_CANCEL_POLL_MS = 1_000;

/** A run this worker holds: its lease, and the abort of its step in flight. */
interface HeldRun {
  lease: Lease;
  lost: boolean;
  abort: AbortController;
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
  private readonly eventLog: RunEventLog;
  private readonly sql: StatementRunner;
  private stopping = false;
  private readonly held = new Map<string, HeldRun>();
  private cancelTimer: NodeJS.Timeout | undefined;
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
    this.runs = new RunStateMachine(db, { announcer: options.announcer, callbacks: options.callbacks });
    this.eventLog = new RunEventLog(db, options.announcer);
    this.sql = new StatementRunner(db);
  }

  private get leaseSeconds(): number {
    return this.options.leaseMs / 1000;
  }

  async start(): Promise<void> {
    this.unwatch = this.events.watchAll({
      onEvent: (event) => {
        if (event.status === 'QUEUED') this.poke();
        // A run of ours announced final by someone else: cancelled (the worker itself announces its own ends after they are written).
        else if (isFinalStatus(event.status)) this.lose(event.id);
      },
      onReconnect: () => this.poke(),
    });
    await this.events.start();
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(200, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
    this.cancelTimer = setInterval(() => void this.checkLeases(), this.options.cancelPollMs ?? DEFAULT_CANCEL_POLL_MS);
    this.cancelTimer.unref();
    this.loop = this.claimLoop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatch?.();
    this.poke();
    await this.loop;
    // A finish in flight may still hand its slot to a run it claimed (which releases it at once).
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    clearInterval(this.renewTimer);
    clearInterval(this.cancelTimer);
  }

  /** The run is no longer this worker's: its step in flight is aborted and nothing more is written. */
  private lose(runId: string): void {
    const entry = this.held.get(runId);
    if (!entry || entry.lost) return;
    entry.lost = true;
    entry.abort.abort();
  }

  /** The fallback for a cancel whose announcement was lost: one statement for every run held. */
  private async checkLeases(): Promise<void> {
    const entries = [...this.held.values()];
    if (entries.length === 0) return;
    try {
      for (const id of await this.runs.lostLeases(entries.map((e) => e.lease))) this.lose(id);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not check run leases');
    }
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
    const entry: HeldRun = { lease: { runId: run.id, token: run.leaseToken }, lost: false, abort: new AbortController() };
    this.held.set(run.id, entry);
    const work = this.execute(run, entry)
      .catch((error): undefined => {
        this.logger.error({ err: error, runId: run.id }, 'run execution failed; its lease will lapse and the run be retried');
      })
      .then((successor) => {
        this.held.delete(run.id);
        this.inFlight.delete(work);
        // The run its finish claimed takes its slot; a finish that found none queued leaves the
        // slot to the next QUEUED announcement (a claim now would find nothing either).
        if (successor?.next) this.track(successor.next);
        else if (successor?.next !== null) this.poke();
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
      for (const entry of entries) if (!kept.has(entry.lease.runId)) this.lose(entry.lease.runId);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not renew run leases');
    }
  }

  private fileSource(): RunFileSource {
    if (!this.options.files) throw new Error('a run was given files but this executor has no file source');
    return this.options.files;
  }

  /**
   * Runs a claimed run to its end (or to the current step's end when stopping), recording its
   * steps as events: an http step's STEP_STARTED is written before its request (followers see it
   * start), its streamed OUTPUT pieces as they arrive (OutputCoalescer), and a transform step's
   * two events together after it, the last step's in the statement that finishes the run (and
   * claims the next queued run for its slot), so that a step costs few commits (a one-step
   * transform run with a backlog: one finish statement, shared with the other runs ending then).
   * A cancel (or a lease taken over) aborts the step in flight and the run is left as it is:
   * CANCELLED by whoever cancelled. Answers what its finish did (undefined when it ended
   * otherwise: released, lost, cancelled).
   */
  private async execute(run: ClaimedRun, held: HeldRun): Promise<Finished | undefined> {
    const lease: Lease = { runId: run.id, token: run.leaseToken };
    const steps: Record<string, StepResult> = { ...(run.steps ?? {}) };
    const hasCallback = run.callbackUrl !== null;
    let pending: NewRunEvent[] = [];
    /** Ends the run with the events not written yet, claiming a queued run for its slot unless stopping. */
    const finish = (end: RunEnd): Promise<Finished> =>
      this.runs.finishAndClaim(lease, steps, end, hasCallback, pending, this.stopping ? null : this.leaseSeconds);
    /** Writes the events not written yet; false when the run is no longer this worker's. */
    const record = async (): Promise<boolean> => {
      const events = pending;
      pending = [];
      if (await this.eventLog.append(lease, events)) return true;
      held.lost = true;
      return false;
    };
    let stepId = run.nextStep;
    // Earlier turns are final while this one is active (one active run per conversation), so they are read once.
    const conversation = run.conversationId
      ? await conversationContext(this.sql, run.conversationId, { id: run.id, createdAt: run.createdAt })
      : undefined;
    const context = async (at: string): Promise<RunContext> => ({
      run: { id: run.id, workflowId: run.workflowId },
      payload: run.payload,
      steps,
      ...(conversation ? { conversation } : {}),
      // Signed anew for each step: valid for whatever the run may still take from this step on.
      ...(run.files ? { files: await contextFiles(this.fileSource(), run.files, run.definition, at) } : {}),
    });
    for (let executed = 0; stepId !== null; executed++) {
      if (held.lost) return undefined;
      if (this.stopping) {
        await this.runs.release(lease, steps, stepId);
        return undefined;
      }
      const step = run.definition.steps[stepId];
      if (!step || executed > Object.keys(run.definition.steps).length) {
        return finish({ status: 'FAILED', error: `The workflow has no step "${stepId}"` });
      }
      pending.push({ type: RunEventType.STEP_STARTED, step: stepId, data: null });
      if (step.type === 'http' && !(await record())) return;
      const id = stepId;
      const output = new OutputCoalescer(
        (events) => this.eventLog.append(lease, events),
        () => this.lose(run.id),
      );
      let result: StepResult;
      try {
        result = await runStep(id, step, await context(id), run.signingSecrets, {
          cancelled: held.abort.signal,
          onOutput: (data) => output.push({ type: RunEventType.OUTPUT, step: id, data }),
        });
        await output.drain();
      } catch (error) {
        await output.drain().catch(() => undefined);
        if (error instanceof RunCancelled || held.lost) return;
        if (!(error instanceof StepFailed)) throw error;
        steps[id] = error.result;
        pending.push({ type: RunEventType.STEP_FINISHED, step: id, data: stepEnd(error.result) });
        return finish({ status: 'FAILED', error: error.message });
      }
      if (held.lost) return;
      steps[id] = result;
      pending.push({ type: RunEventType.STEP_FINISHED, step: id, data: stepEnd(result) });
      const next = step.next ?? null;
      if (next === null) {
        return finish({ status: 'SUCCEEDED', output: result.output });
      }
      if (!(await record())) return;
      // False: the lease was taken over, another worker owns the run now.
      if (!(await this.runs.saveProgress(lease, steps, next))) return;
      stepId = next;
    }
  }
}

/** A STEP_FINISHED event's data: the http answer's status code, `{ status?, error }` when the step failed, null for a transform. */
function stepEnd(result: StepResult): unknown {
  if (result.error) return result.status === undefined ? { error: result.error } : { status: result.status, error: result.error };
  return result.status ?? null;
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
    private readonly options: { leaseMs: number; announcer: RunAnnouncer; maxRecoveries?: number; callbacks?: CallbackQueue },
  ) {
    this.runs = new RunStateMachine(db, { announcer: options.announcer, callbacks: options.callbacks });
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
