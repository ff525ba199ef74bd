import type { NotificationListener, Subscription } from '../db/notification-listener';
import { WorkflowRunStatus } from './workflow-run.entity';

/** The channel the `workflow_runs` trigger announces status changes on (migration RunEvents). */
export const RUN_EVENTS_CHANNEL = 'alloy_run_events';

/** One status change of one run, as announced after its commit. */
export interface RunEvent {
  id: string;
  organizationId: string;
  status: WorkflowRunStatus;
  /** The run's status change count (1 at insert): orders the events of one run and spots repeats. */
  seq: number;
}

export interface RunEventHandler {
  onEvent(event: RunEvent): void;
  /**
   * Called with `true` when the listening connection is back after a loss: events of that gap are
   * gone, so whoever waits on a run must read its row again.
   */
  onReconnect?(): void;
}

const FINAL = new Set<string>([WorkflowRunStatus.SUCCEEDED, WorkflowRunStatus.FAILED]);
export const isFinalStatus = (status: string): boolean => FINAL.has(status);

function parse(payload: string): RunEvent | null {
  try {
    const value = JSON.parse(payload) as Partial<RunEvent>;
    if (typeof value.id !== 'string' || typeof value.status !== 'string' || typeof value.seq !== 'number') return null;
    return value as RunEvent;
  } catch {
    return null;
  }
}

/**
 * Fans the process's run notifications out to whoever waits on them: waiting requests and
 * subscriptions by run id, idle workers on every newly queued run. One LISTEN for all runs,
 * whichever process (gateway or `alloy worker`, on any machine) made the change.
 */
export class RunEvents {
  private readonly byRun = new Map<string, Set<RunEventHandler>>();
  private readonly onAny = new Set<RunEventHandler>();
  private subscription: Subscription | undefined;

  constructor(private readonly listener: NotificationListener) {}

  /** LISTENs on the channel (idempotent); resolves once listening, or false while the database is away. */
  start(): Promise<boolean> {
    if (!this.subscription) {
      this.subscription = this.listener.subscribe(RUN_EVENTS_CHANNEL, {
        onMessage: (payload) => {
          const event = parse(payload);
          if (!event) return;
          for (const handler of this.byRun.get(event.id) ?? []) handler.onEvent(event);
          for (const handler of this.onAny) handler.onEvent(event);
        },
        onConnectionChange: (listening) => {
          if (!listening) return;
          for (const set of this.byRun.values()) for (const handler of set) handler.onReconnect?.();
          for (const handler of this.onAny) handler.onReconnect?.();
        },
      });
    }
    return this.subscription.ready;
  }

  /** True while notifications are arriving; when false a waiter should fall back to reading rows. */
  get isListening(): boolean {
    return this.listener.isListening;
  }

  /** Events of one run until the returned function is called. */
  watchRun(runId: string, handler: RunEventHandler): () => void {
    const id = runId.toLowerCase();
    let set = this.byRun.get(id);
    if (!set) this.byRun.set(id, (set = new Set()));
    set.add(handler);
    return () => {
      const current = this.byRun.get(id);
      current?.delete(handler);
      if (current?.size === 0) this.byRun.delete(id);
    };
  }

  /** Every run's events (workers use it to wake on QUEUED) until the returned function is called. */
  watchAll(handler: RunEventHandler): () => void {
    this.onAny.add(handler);
    return () => void this.onAny.delete(handler);
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.byRun.clear();
    this.onAny.clear();
  }
}
