import { isFinalStatus, RunEvents } from './run-events';
import type { WorkflowRun } from './workflow-run.type';

/** The longest a `triggerWorkflow` / `callTeammate` request may wait for its run (`waitSeconds`). */
export const MAX_WAIT_SECONDS = 30;

export type ReadRun = (organizationId: string, runId: string) => Promise<WorkflowRun | null>;

/**
 * Holds a request until its run has finished. The wait itself costs no database connection and no
 * polling: it sleeps until the run's notification (RunEvents, fed by whichever process changed the
 * row) says it reached a final state, and then reads the row once for its output or error. The row
 * is also read right after the watch starts (a run that finished before it is not missed), after
 * the LISTEN connection comes back (its notifications of the gap are lost), and when the wait is up.
 */
export class RunWaiter {
  /** Ends each wait in progress early (answering the run as it stands); used on shutdown. */
  private readonly releases = new Set<() => void>();
  private stopped = false;

  constructor(
    private readonly events: RunEvents,
    private readonly readRun: ReadRun,
  ) {}

  /** Requests waiting now. */
  get waiting(): number {
    return this.releases.size;
  }

  /**
   * `run` once it is SUCCEEDED or FAILED, or as it stands after `seconds`, or when the gateway
   * stops. When `clientGone` aborts, the wait ends at once without reading anything more: nobody
   * is left to answer, and the run goes on.
   */
  async untilFinished(run: WorkflowRun, seconds: number, clientGone?: AbortSignal): Promise<WorkflowRun> {
    if (seconds <= 0 || isFinalStatus(run.status) || clientGone?.aborted) return run;
    // LISTENing before the row is read, so that a finish committed in between is announced to us.
    await this.events.start();

    let current = run;
    let stale = true;
    let over = this.stopped;
    let gone = false;
    let wake: () => void = () => undefined;
    const timer = setTimeout(() => {
      over = true;
      wake();
    }, seconds * 1000);
    const unwatch = this.events.watchRun(run.id, {
      onEvent: (event) => {
        if (!isFinalStatus(event.status)) return;
        stale = true;
        wake();
      },
      onReconnect: () => {
        stale = true;
        wake();
      },
    });
    const onGone = () => {
      gone = true;
      wake();
    };
    clientGone?.addEventListener('abort', onGone, { once: true });
    const release = () => {
      over = true;
      wake();
    };
    this.releases.add(release);
    try {
      // The flags are set by callbacks at any time, also while a read is in flight; they are
      // looked at again before every sleep, so nothing that happened during a read is lost.
      for (;;) {
        if (gone) return current;
        if (stale || over) {
          stale = false;
          current = (await this.readRun(run.organizationId, run.id)) ?? current;
          if (gone || over || isFinalStatus(current.status)) return current;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      clearTimeout(timer);
      unwatch();
      clientGone?.removeEventListener('abort', onGone);
      this.releases.delete(release);
    }
  }

  /** Answers every wait in progress with its run as it stands, and every later one at once. */
  stop(): void {
    this.stopped = true;
    for (const release of [...this.releases]) release();
  }
}
