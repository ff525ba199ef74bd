import type { DataSource } from 'typeorm';
import type { NotificationListener, Subscription } from '../db/notification-listener';
import { pick, selectList } from '../db/columns';
import { statement, StatementRunner } from '../db/statements';
import { runTimesOf } from './run-partitions';
import { RUN_COLUMNS, RunRow } from './workflow-run.row';
import { WorkflowRunStatus } from './workflow-run.type';

/** The channel run status changes are announced on, as a JSON array of RunEvent. */
export const RUN_EVENTS_CHANNEL = 'alloy_run_events';

/**
 * The channel stored events (OUTPUT, STEP_*: announcements with `events`) are announced on. Only a
 * process that follows runs' events LISTENs to it: a worker, which acts on status changes only,
 * then neither receives nor parses the stream of every run's output, and Postgres delivers each
 * piece to the gateways alone (the run-events figure streams 5,000 pieces a second through every
 * listening process otherwise).
 */
export const RUN_OUTPUT_CHANNEL = 'alloy_run_output';

/** The channel an announcement goes on: stored events on the output channel, status changes on the run channel. */
const channelOf = (event: RunEvent): string => (event.events === undefined ? RUN_EVENTS_CHANNEL : RUN_OUTPUT_CHANNEL);

/** One status change of one run, as announced after its commit. */
export interface RunEvent {
  id: string;
  organizationId: string;
  status: WorkflowRunStatus;
  /** The run's status change count (1 at insert): orders the events of one run and spots repeats. */
  seq: number;
  /**
   * The run's last stored event number (run-event-log.ts), when the announcement is of stored
   * events (OUTPUT, STEP_*) rather than a status change: it wakes `workflowRunEvents` followers.
   */
  events?: number;
  /**
   * The stored events this announcement is about, when they are small (INLINE_EVENTS_BYTES): a
   * follower whose last event comes right before them takes them from here instead of reading
   * the table. Anything else (a gap, a missing list) makes it read.
   */
  appended?: Array<{ seq: number; type: string; step: string | null; data: unknown; at: string }>;
}

export interface RunEventHandler {
  onEvent(event: RunEvent): void;
  /**
   * Called with `true` when the listening connection is back after a loss: events of that gap are
   * gone, so whoever waits on a run must read its row again.
   */
  onReconnect?(): void;
}

/** The announcement of a run's change to `status`, from the run's row (its id, organization and status change count). */
export function announcementOf(run: Pick<RunRow, 'id' | 'organizationId' | 'statusSeq'>, status: WorkflowRunStatus): RunEvent {
  return { id: run.id, organizationId: run.organizationId, status, seq: run.statusSeq };
}

const FINAL = new Set<string>([WorkflowRunStatus.SUCCEEDED, WorkflowRunStatus.FAILED, WorkflowRunStatus.CANCELLED]);
export const isFinalStatus = (status: string): boolean => FINAL.has(status);

function parse(payload: string): RunEvent[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return [];
  }
  const list = Array.isArray(value) ? value : [value];
  return list.filter((e): e is RunEvent => !!e && typeof e.id === 'string' && typeof e.status === 'string' && typeof e.seq === 'number');
}

/** Postgres refuses NOTIFY payloads of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_000;

/**
 * Every pending payload in one statement: one round trip (and one wait for a pooled connection)
 * however many there are. It reads no table, so it runs on a connection in whichever plan mode
 * (the gateway's default, a worker's generic) without switching it.
 */
const ANNOUNCE = statement('workflows.announce-runs', `SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS a (c, p)`, {
  anyPlanMode: true,
});

/**
 * Sends the status changes this process committed, after the commit and outside any writing
 * transaction: a NOTIFY inside the writing transaction would hold Postgres's notification lock
 * through its WAL flush and serialize every such commit (see migration RunEvents). Changes
 * announced in the same tick go out together, as one array per NOTIFY. A change whose
 * announcement is lost (the process died right after its commit) is still found: workers poll
 * the queue as a fallback, and RunEvents re-reads the runs it watches every few seconds.
 */
export class RunAnnouncer {
  private pending: RunEvent[] = [];
  private flushing: Promise<void> | undefined;
  private readonly sql: StatementRunner;

  constructor(
    db: DataSource,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.sql = new StatementRunner(db);
  }

  announce(events: RunEvent[]): void {
    if (events.length === 0) return;
    this.pending.push(...events);
    if (!this.flushing) this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  /** Sends what is pending now (also what arrives while it sends). */
  async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      const channels: string[] = [];
      const payloads: string[] = [];
      for (const channel of [RUN_EVENTS_CHANNEL, RUN_OUTPUT_CHANNEL]) {
        for (const payload of chunks(batch.filter((event) => channelOf(event) === channel))) {
          channels.push(channel);
          payloads.push(payload);
        }
      }
      await this.sql.run(ANNOUNCE, [channels, payloads]).catch(this.onError);
    }
    this.flushing = undefined;
  }
}

function chunks(events: RunEvent[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const event of events) {
    const text = JSON.stringify(event);
    // In bytes: announcements of stored events carry their data, which need not be ASCII.
    const size = Buffer.byteLength(text);
    if (current.length && bytes + size + 1 > MAX_PAYLOAD_BYTES) {
      out.push(`[${current.join(',')}]`);
      current = [];
      bytes = 2;
    }
    current.push(text);
    bytes += size + 1;
  }
  if (current.length) out.push(`[${current.join(',')}]`);
  return out;
}

/** A watched run as it stands: its status and, so that a follower already past it does not read the table, its last stored event number (run-event-stream.ts). */
const WATCHED_COLUMNS = pick(RUN_COLUMNS, 'id', 'organizationId', 'status', 'statusSeq', 'eventSeq');
type WatchedRun = Pick<RunRow, keyof typeof WATCHED_COLUMNS>;
const READ_WATCHED = statement(
  'workflows.read-watched-runs',
  `SELECT ${selectList(WATCHED_COLUMNS, { from: 'r' })}
     FROM unnest($1::uuid[]) AS watched (id) JOIN workflow_runs r ON r.id = watched.id AND ${runTimesOf('r.created_at', 'watched.id', '$1::uuid[]')}`,
);

/** How often the runs somebody watches are read again, for announcements that were lost. */
export const RECHECK_MS = 5_000;

/**
 * Fans the process's run notifications out to whoever waits on them: waiting requests and
 * subscriptions by run id, idle workers on every newly queued run. One LISTEN for all runs'
 * status changes, whichever process (gateway or `alloy worker`, on any machine) made the change,
 * and one for their stored events in processes that follow them (`followOutput`).
 */
export class RunEvents {
  private readonly byRun = new Map<string, Set<RunEventHandler>>();
  private readonly onAny = new Set<RunEventHandler>();
  private subscription: Subscription | undefined;
  private outputSubscription: Subscription | undefined;
  private recheck: NodeJS.Timeout | undefined;
  private readonly sql: StatementRunner | undefined;

  /** With `db`, the watched runs are also read every RECHECK_MS (one query for all of them). */
  constructor(
    private readonly listener: NotificationListener,
    db?: DataSource,
  ) {
    this.sql = db ? new StatementRunner(db) : undefined;
  }

  private dispatch(events: RunEvent[], toAny = true): void {
    for (const event of events) {
      for (const handler of this.byRun.get(event.id) ?? []) handler.onEvent(event);
      if (toAny) for (const handler of this.onAny) handler.onEvent(event);
    }
  }

  /** Watched runs as they stand, as events: watchers drop what they have already seen by seq. */
  private async readWatched(): Promise<void> {
    if (!this.sql || this.byRun.size === 0) return;
    const rows = await this.sql.rows<WatchedRun>(READ_WATCHED, [[...this.byRun.keys()]]).catch((): WatchedRun[] => []);
    for (const row of rows) {
      const event: RunEvent = { ...announcementOf(row, row.status), events: row.eventSeq };
      for (const handler of this.byRun.get(row.id) ?? []) handler.onEvent(event);
    }
  }

  /** LISTENs on the channel (idempotent); resolves once listening, or false while the database is away. */
  start(): Promise<boolean> {
    if (!this.subscription) {
      this.subscription = this.listener.subscribe(RUN_EVENTS_CHANNEL, {
        // Every run's changes reach every process; with nobody waiting here there is nothing to parse.
        onMessage: (payload) => {
          if (this.byRun.size > 0 || this.onAny.size > 0) this.dispatch(parse(payload));
        },
        onConnectionChange: (listening) => {
          if (!listening) return;
          for (const set of this.byRun.values()) for (const handler of set) handler.onReconnect?.();
          for (const handler of this.onAny) handler.onReconnect?.();
        },
      });
      if (this.sql) {
        this.recheck = setInterval(() => void this.readWatched(), RECHECK_MS);
        this.recheck.unref();
      }
    }
    return this.subscription.ready;
  }

  /**
   * Also LISTENs to the stored events' announcements (idempotent), for followers of runs' events
   * (`workflowRunEvents`, `GET /runs/:id/events`); resolves once both channels are listened to.
   * Only watchers of a run get them: they wake its followers, nothing else acts on them.
   */
  async followOutput(): Promise<boolean> {
    const listening = this.start();
    this.outputSubscription ??= this.listener.subscribe(RUN_OUTPUT_CHANNEL, {
      onMessage: (payload) => {
        if (this.byRun.size > 0) this.dispatch(parse(payload), false);
      },
    });
    const [runs, output] = await Promise.all([listening, this.outputSubscription.ready]);
    return runs && output;
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
    clearInterval(this.recheck);
    this.subscription?.close();
    this.subscription = undefined;
    this.outputSubscription?.close();
    this.outputSubscription = undefined;
    this.byRun.clear();
    this.onAny.clear();
  }
}
