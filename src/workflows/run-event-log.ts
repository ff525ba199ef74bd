import type { DataSource } from 'typeorm';
import { Columns, pick, selectList } from '../db/columns';
import type { Page } from '../db/page';
import { retryOnDeadlock } from '../db/postgres-errors';
import { statement, StatementRunner } from '../db/statements';
import { WriteBatcher } from '../db/write-batcher';
import { announcementOf, isFinalStatus, RunAnnouncer, RunEvent } from './run-events';
import { runTimeOf, runTimesOf } from './run-partitions';
import { RunEventType, StoredRunEvent } from './run-event.type';
import { RUN_COLUMNS, RunRow } from './workflow-run.row';
import { WorkflowRunStatus } from './workflow-run.type';

/** An event the executor appends (STATUS events are written by the database, see migration RunEventLog). */
export interface NewRunEvent {
  type: RunEventType.STEP_STARTED | RunEventType.STEP_FINISHED | RunEventType.OUTPUT;
  step: string;
  data: unknown;
}

/** The one list of the columns of `workflow_run_events` that are read, each as the field of a RunEvent it is read into. */
const EVENT_COLUMNS: Columns<StoredRunEvent> = { seq: 'seq', type: 'type', step: 'step', data: 'data', at: 'at' };

/** An append's outcome for each run it wrote to: the run's numbers, and the times of the events added. */
const APPENDED_COLUMNS = pick(RUN_COLUMNS, 'id', 'organizationId', 'statusSeq', 'eventSeq');
export type AppendedRow = Pick<RunRow, keyof typeof APPENDED_COLUMNS> & { ats: Date[] };

/** Appended events up to about this much JSON go with their announcement (a NOTIFY payload holds under 8,000 bytes). */
const INLINE_EVENTS_BYTES = 3_000;

const SQL = {
  /**
   * Appends the events of several runs in one statement and one commit (AppendBatcher): raising
   * each run's `event_seq` numbers its events and, being a write of the run row, orders them
   * against its status changes. Fenced by each run's lease like every write of a worker, and only
   * while the run is RUNNING: a cancelled run takes no more output. The rows are locked in id
   * order, so two such statements never deadlock with each other. A run without a row back had
   * nothing written.
   */
  append: statement(
    'workflows.append-run-events',
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS i (id, token, n)
     ), locked AS (
       SELECT r.id, r.created_at FROM workflow_runs r
         JOIN input i ON i.id = r.id AND ${runTimesOf('r.created_at', 'i.id', '$1::uuid[]')} AND r.lease_token = i.token
        WHERE r.status = 'RUNNING' ORDER BY r.id FOR UPDATE OF r
     ), run AS (
       UPDATE workflow_runs r SET event_seq = r.event_seq + i.n
         FROM input i, locked l
        WHERE r.id = i.id AND l.id = r.id AND r.created_at = l.created_at AND ${runTimesOf('r.created_at', 'i.id', '$1::uuid[]')}
       RETURNING r.id, r.created_at, r.organization_id, r.status_seq, r.event_seq, i.n
     ), added AS (
       INSERT INTO workflow_run_events (run_id, run_created_at, seq, type, step, data)
       SELECT e.run_id, run.created_at, run.event_seq - run.n + e.k, e.type, e.step, e.data::json
         FROM unnest($4::uuid[], $5::int[], $6::text[], $7::text[], $8::text[]) AS e (run_id, k, type, step, data)
         JOIN run ON run.id = e.run_id
       RETURNING run_id, seq, at
     )
     SELECT ${selectList(APPENDED_COLUMNS, { from: 'run' })},
            (SELECT array_agg(a.at ORDER BY a.seq) FROM added a WHERE a.run_id = run.id) AS ats
       FROM run`,
    { genericPlan: true },
  ),
  /** A page of one run's events after `seq` $2 (the run checked against the organization). */
  page: statement(
    'workflows.run-events-page',
    `SELECT ${selectList(EVENT_COLUMNS)} FROM workflow_run_events
      WHERE run_id = $1 AND ${runTimeOf('run_created_at', '$1::uuid')} AND seq > $2
        AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')} AND organization_id = $4)
      ORDER BY seq LIMIT $3`,
  ),
  count: statement(
    'workflows.run-events-count',
    `SELECT count(*)::int AS n FROM workflow_run_events WHERE run_id = $1 AND ${runTimeOf('run_created_at', '$1::uuid')}`,
  ),
};

/**
 * The announcements of one run's append: its events travel inside them, as many per announcement
 * as fit in INLINE_EVENTS_BYTES, so that followers take them without reading the table. One
 * announcement for the whole append left a large one (many pieces coalesced while the database
 * was slow, the start of 100 streams together) without its events, and every follower of the run
 * then read the table at once, on a pool that was already the bottleneck (BENCHMARKS.md,
 * run-events). Only an event too large on its own goes without its data (its followers read it).
 * In seq order: RunAnnouncer keeps the order, one NOTIFY after another.
 */
export function announcementsOf(row: AppendedRow, events: NewRunEvent[], texts: string[]): RunEvent[] {
  const first = row.eventSeq - events.length + 1;
  const out: RunEvent[] = [];
  const announce = (last: number, appended?: RunEvent['appended']) =>
    out.push({ ...announcementOf(row, WorkflowRunStatus.RUNNING), events: last, ...(appended ? { appended } : {}) });
  let chunk: NonNullable<RunEvent['appended']> = [];
  let bytes = 0;
  events.forEach((e, i) => {
    // Counted generously (JSON escapes, the seq, type and time of each), so that an announcement stays far below the NOTIFY limit.
    const size = Buffer.byteLength(texts[i]) + Buffer.byteLength(e.step) * 2 + 100;
    if (chunk.length && bytes + size > INLINE_EVENTS_BYTES) {
      announce(first + i - 1, chunk);
      chunk = [];
      bytes = 0;
    }
    if (size > INLINE_EVENTS_BYTES) {
      announce(first + i);
      return;
    }
    chunk.push({ seq: first + i, type: e.type, step: e.step, data: e.data ?? null, at: row.ats[i].toISOString() });
    bytes += size;
  });
  if (chunk.length) announce(row.eventSeq, chunk);
  return out;
}

/** Runs whose appends go in one statement at most. */
const MAX_RUNS_PER_APPEND = 200;

interface Append {
  lease: { runId: string; token: string };
  events: NewRunEvent[];
}

/** True for the event that ends a run's list: a STATUS event with a final status. */
export const isFinalEvent = (event: Pick<StoredRunEvent, 'type' | 'data'>): boolean =>
  event.type === RunEventType.STATUS && typeof event.data === 'string' && isFinalStatus(event.data);

/**
 * The unnest arrays that carry the events of several runs into one statement (the append's $4 to
 * $8, the finish's in run-state.ts): each event's run, its number within the run's list (1, 2, …),
 * type, step and data as JSON text. `texts` is the data, each run's slice in the order given.
 */
export function eventColumns(runs: Array<{ runId: string; events: NewRunEvent[] }>): { values: unknown[]; texts: string[][] } {
  const flat = runs.flatMap((run) => run.events.map((event, k) => ({ runId: run.runId, k: k + 1, event })));
  const data = flat.map(({ event }) => (event.data === undefined ? 'null' : JSON.stringify(event.data)));
  const texts: string[][] = [];
  let at = 0;
  for (const run of runs) {
    texts.push(data.slice(at, at + run.events.length));
    at += run.events.length;
  }
  return {
    values: [flat.map((f) => f.runId), flat.map((f) => f.k), flat.map((f) => f.event.type), flat.map((f) => f.event.step), data],
    texts,
  };
}

/** A run's stored events: appended by the executor, read by `WorkflowRun.events` and the followers of a run. */
export class RunEventLog {
  private readonly sql: StatementRunner;
  /**
   * A worker's appends of all its runs go in one statement per APPEND_INTERVAL_MS at most; a run's
   * events that arrive while its last append waits for the statement join it (in order), so a
   * piece waits one interval at most, not its run's append in flight and then an interval more.
   */
  private readonly appends = new WriteBatcher<Append, boolean>(
    (batch) => this.write(batch),
    (item) => item.lease.runId,
    MAX_RUNS_PER_APPEND,
    {
      minIntervalMs: APPEND_INTERVAL_MS,
      merge: (waiting, item) => waiting.lease.token === item.lease.token && !!waiting.events.push(...item.events),
    },
  );

  constructor(
    db: DataSource,
    private readonly announcer: RunAnnouncer,
  ) {
    this.sql = new StatementRunner(db);
  }

  /**
   * Appends `events` (with the other runs' appends waiting then: one statement, one commit), then
   * announces them after the commit, like status changes, so that whoever follows the run gets
   * them. False when the lease is no longer the worker's or the run is no longer RUNNING
   * (cancelled): the caller stops.
   */
  async append(lease: { runId: string; token: string }, events: NewRunEvent[]): Promise<boolean> {
    if (events.length === 0) return true;
    return this.appends.add({ lease, events });
  }

  private async write(batch: Append[]): Promise<boolean[]> {
    const { values, texts } = eventColumns(batch.map((item) => ({ runId: item.lease.runId, events: item.events })));
    const rows = await retryOnDeadlock(() =>
      this.sql.rows<AppendedRow>(SQL.append, [
        batch.map((item) => item.lease.runId),
        batch.map((item) => item.lease.token),
        batch.map((item) => item.events.length),
        ...values,
      ]),
    );
    const byRun = new Map(rows.map((row) => [row.id, row]));
    this.announcer.announce(
      batch.flatMap((item, i) => {
        const row = byRun.get(item.lease.runId);
        return row ? announcementsOf(row, item.events, texts[i]) : [];
      }),
    );
    return batch.map((item) => byRun.has(item.lease.runId));
  }

  /** Up to `first` events of the organization's run after `after`, in order (none for another organization's run). */
  async page(organizationId: string, runId: string, after: number, first: number, count = false): Promise<Page<StoredRunEvent>> {
    const rows = await this.sql.rows<StoredRunEvent & Record<string, unknown>>(SQL.page, [runId, after, first + 1, organizationId]);
    const total = count ? ((await this.sql.first<{ n: number }>(SQL.count, [runId]))?.n ?? 0) : undefined;
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first, ...(total === undefined ? {} : { count: total }) };
  }
}

/**
 * A worker's appends start at least this far apart, every run's pieces that arrived meanwhile
 * going in one statement: a token stream then costs a commit per interval, not per token, and
 * however many runs stream, a worker sends at most 25 appends a second. Per run instead (a window
 * opened by each run's first piece, appends sent back to back), 100 runs streaming at 50 pieces/s
 * kept every worker's appends going back to back, each carrying a few runs (BENCHMARKS.md,
 * run-events): twice the statements for the same rows, on a machine whose CPU was the limit.
 */
export const APPEND_INTERVAL_MS = 40;

/**
 * Hands a step's OUTPUT pieces to its run's appends: the pieces of one chunk of the stream
 * together (they are parsed in one go), each such group joining the run's append that waits for the
 * worker's next statement (RunEventLog), so the pieces keep their order.
 */
export class OutputCoalescer {
  private buffer: NewRunEvent[] = [];
  private lastResult: Promise<boolean> | undefined;
  private readonly writing = new Set<Promise<void>>();
  private failed: unknown;
  /** The append was refused (lease lost or run cancelled): the step must stop. */
  stopped = false;

  constructor(
    private readonly write: (events: NewRunEvent[]) => Promise<boolean>,
    private readonly onStop: () => void,
  ) {}

  push(event: NewRunEvent): void {
    if (this.stopped) return;
    this.buffer.push(event);
    if (this.buffer.length === 1) queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0 || this.stopped) return;
    const result = this.write(batch);
    // Joined the append already waiting: its outcome is already watched.
    if (result === this.lastResult) return;
    this.lastResult = result;
    const written = result.then(
      (accepted) => {
        if (accepted || this.stopped) return;
        this.stopped = true;
        this.buffer = [];
        this.onStop();
      },
      (error: unknown) => {
        this.failed ??= error;
      },
    );
    this.writing.add(written);
    void written.finally(() => this.writing.delete(written));
  }

  /** Writes everything buffered; throws if a write failed (the step's output would have a gap). */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all([...this.writing]);
    if (this.failed) throw this.failed;
  }
}
