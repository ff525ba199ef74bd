import { isUuid } from '../db/ids';
import { notFound } from '../graphql/errors';
import { isFinalStatus, RunEvent, RunEvents } from './run-events';
import type { ReadRun } from './run-waiter';
import { WorkflowRun, WorkflowRunStatus } from './workflow-run.type';

/**
 * The run as it was at a status change the row has since moved past (a transform-only run is
 * RUNNING for a millisecond, long gone when the notification is read): that status, the row's
 * other fields, and none of what only a finished run has.
 */
function asAtStatus(row: WorkflowRun, status: WorkflowRunStatus, seq: number): WorkflowRun {
  if (row.statusSeq === seq) return row;
  if (isFinalStatus(status)) return { ...row, status, statusSeq: seq };
  return { ...row, status, statusSeq: seq, output: null, error: null, finishedAt: null };
}

type Step = { kind: 'event'; event: RunEvent } | { kind: 'reread' };

/**
 * The states of one run for `workflowRunUpdated`: the row as it is now, then one state per status
 * change, each once and in order (`status_seq` drops repeats and what the first read already
 * showed), ending after SUCCEEDED or FAILED (at once when the run had already finished). Fed by
 * the run's notifications, whichever process made the change; the row is read for each change,
 * and again after the LISTEN connection was lost (changes of the gap then arrive as the run's
 * current state). `return()` (the client unsubscribed or went away) stops watching at once, even
 * while waiting for the next change.
 */
export class RunUpdates implements AsyncIterableIterator<WorkflowRun> {
  private readonly ready: WorkflowRun[] = [];
  private readonly steps: Step[] = [];
  private waiting: { resolve: (result: IteratorResult<WorkflowRun>) => void; reject: (error: unknown) => void } | null = null;
  private failure: { error: unknown } | null = null;
  /** No more states will be added (the run finished, the client left, or a read failed). */
  private ended = false;
  private pumping = false;
  private lastSeq = 0;
  private lastRow: WorkflowRun | null = null;
  private unwatch: () => void = () => undefined;

  private constructor(
    private readonly readRun: ReadRun,
    private readonly organizationId: string,
    private readonly runId: string,
  ) {}

  /** NOT_FOUND for an id that is no run of the organization (another organization's included). */
  static async start(events: RunEvents, readRun: ReadRun, organizationId: string, runId: string): Promise<RunUpdates> {
    if (!isUuid(runId)) throw notFound('Workflow run');
    const updates = new RunUpdates(readRun, organizationId, runId);
    // Subscribed first, then the row read: a change committed in between is either in the row or
    // announced after it (and then dropped by its seq if the row already showed it).
    await events.start();
    updates.unwatch = events.watchRun(runId, {
      onEvent: (event) => updates.enqueue({ kind: 'event', event }),
      onReconnect: () => updates.enqueue({ kind: 'reread' }),
    });
    let row: WorkflowRun | null;
    try {
      row = await readRun(organizationId, runId);
    } catch (error) {
      updates.unwatch();
      throw error;
    }
    if (!row) {
      updates.unwatch();
      throw notFound('Workflow run');
    }
    // An announcement that came during the read may have been handled (and emitted) already.
    if (row.statusSeq > updates.lastSeq) updates.emit(row, row.statusSeq);
    void updates.pump();
    return updates;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WorkflowRun>> {
    const value = this.ready.shift();
    if (value) return Promise.resolve({ value, done: false });
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<WorkflowRun>> {
    this.ready.length = 0;
    this.failure = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<WorkflowRun>> {
    this.return();
    return Promise.reject(error);
  }

  private enqueue(step: Step): void {
    if (this.ended) return;
    this.steps.push(step);
    void this.pump();
  }

  /** Handles the notifications one at a time, in the order they came. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let step: Step | undefined;
      while (!this.ended && (step = this.steps.shift())) {
        if (step.kind === 'reread') {
          const row = await this.readRun(this.organizationId, this.runId);
          if (!row) return this.end();
          this.lastRow = row;
          if (row.statusSeq > this.lastSeq) this.emit(row, row.statusSeq);
          continue;
        }
        const { event } = step;
        if (event.seq <= this.lastSeq) continue;
        // Changes that came together need one read: the row read for the first may show the last.
        const row =
          this.lastRow && this.lastRow.statusSeq >= event.seq ? this.lastRow : await this.readRun(this.organizationId, this.runId);
        if (this.ended) return;
        if (!row) return this.end();
        this.lastRow = row;
        // The first read (start) may have shown this change while this one read.
        if (event.seq <= this.lastSeq) continue;
        this.emit(asAtStatus(row, event.status, event.seq), event.seq);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.pumping = false;
    }
  }

  private emit(run: WorkflowRun, seq: number): void {
    if (this.ended) return;
    this.lastSeq = seq;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve({ value: run, done: false });
    } else {
      this.ready.push(run);
    }
    if (isFinalStatus(run.status)) this.end();
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    const waiting = this.waiting;
    this.end();
    waiting?.reject(error);
  }

  private end(): void {
    if (!this.ended) {
      this.ended = true;
      this.unwatch();
      this.steps.length = 0;
    }
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting && !this.failure) waiting.resolve({ value: undefined, done: true });
  }
}
