import type { DataSource } from 'typeorm';
import type { Page } from '../db/page';
import { statement, StatementRunner } from '../db/statements';
import { announcerFor, isFinalStatus, RunAnnouncer } from './run-events';
import { RunEventType, StoredRunEvent } from './run-event.entity';
import { WorkflowRunStatus } from './workflow-run.entity';

/** An event the executor appends (STATUS events are written by the database, see migration RunEventLog). */
export interface NewRunEvent {
  type: RunEventType.STEP_STARTED | RunEventType.STEP_FINISHED | RunEventType.OUTPUT;
  step: string;
  data: unknown;
}

const EVENT_COLUMNS = `seq, type, step, data, at`;

/** Appended events up to about this much JSON go with their announcement (a NOTIFY payload holds under 8,000 bytes). */
const INLINE_EVENTS_BYTES = 3_000;

const SQL = {
  /**
   * Appends events after the run's last one, in one statement: raising `event_seq` numbers them
   * and, being a write of the run row, orders them against its status changes. Fenced by the
   * lease like every write of a worker, and only while the run is RUNNING: a cancelled run takes
   * no more output. No row: nothing was written.
   */
  append: statement(
    'workflows.append-run-events',
    `WITH run AS (
       UPDATE workflow_runs SET event_seq = event_seq + cardinality($3::text[])
        WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING'
       RETURNING organization_id, status_seq, event_seq
     ), added AS (
       INSERT INTO workflow_run_events (run_id, seq, type, step, data)
       SELECT $1, run.event_seq - cardinality($3::text[]) + e.n, e.type, e.step, e.data::json
         FROM run, unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e (type, step, data, n)
       RETURNING seq, at
     )
     SELECT organization_id AS "organizationId", status_seq AS "statusSeq", event_seq AS "eventSeq",
            (SELECT array_agg(at ORDER BY seq) FROM added) AS ats
       FROM run`,
  ),
  /** A page of one run's events after `seq` $2 (the run checked against the organization). */
  page: statement(
    'workflows.run-events-page',
    `SELECT ${EVENT_COLUMNS} FROM workflow_run_events
      WHERE run_id = $1 AND seq > $2 AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = $1 AND organization_id = $4)
      ORDER BY seq LIMIT $3`,
  ),
  count: statement('workflows.run-events-count', `SELECT count(*)::int AS n FROM workflow_run_events WHERE run_id = $1`),
};

/** True for the event that ends a run's list: a STATUS event with a final status. */
export const isFinalEvent = (event: Pick<StoredRunEvent, 'type' | 'data'>): boolean =>
  event.type === RunEventType.STATUS && typeof event.data === 'string' && isFinalStatus(event.data);

/** A run's stored events: appended by the executor, read by `WorkflowRun.events` and the followers of a run. */
export class RunEventLog {
  private readonly sql: StatementRunner;

  constructor(
    db: DataSource,
    private readonly announcer: RunAnnouncer = announcerFor(db),
  ) {
    this.sql = new StatementRunner(db);
  }

  /**
   * Appends `events` in one statement and one commit, then announces them (after the commit,
   * like status changes) so that whoever follows the run reads them. False when the lease is no
   * longer the worker's or the run is no longer RUNNING (cancelled): the caller stops.
   */
  async append(lease: { runId: string; token: string }, events: NewRunEvent[]): Promise<boolean> {
    if (events.length === 0) return true;
    const data = events.map((e) => (e.data === undefined ? 'null' : JSON.stringify(e.data)));
    const row = await this.sql.first<{ organizationId: string; statusSeq: number; eventSeq: number; ats: Date[] }>(SQL.append, [
      lease.runId,
      lease.token,
      events.map((e) => e.type),
      events.map((e) => e.step),
      data,
    ]);
    if (!row) return false;
    const first = row.eventSeq - events.length + 1;
    // Small batches travel with the announcement, so that followers need not read them back.
    // Counted generously (JSON escapes, the seq, type and time of each), so that an announcement stays far below the NOTIFY limit.
    const inline =
      data.reduce((bytes, text, i) => bytes + Buffer.byteLength(text) + Buffer.byteLength(events[i].step) * 2 + 100, 0) <=
      INLINE_EVENTS_BYTES;
    this.announcer.announce([
      {
        id: lease.runId,
        organizationId: row.organizationId,
        status: WorkflowRunStatus.RUNNING,
        seq: row.statusSeq,
        events: row.eventSeq,
        ...(inline
          ? {
              appended: events.map((e, i) => ({
                seq: first + i,
                type: e.type,
                step: e.step,
                data: e.data ?? null,
                at: row.ats[i].toISOString(),
              })),
            }
          : {}),
      },
    ]);
    return true;
  }

  /** Up to `first` events of the organization's run after `after`, in order (none for another organization's run). */
  async page(organizationId: string, runId: string, after: number, first: number, count = false): Promise<Page<StoredRunEvent>> {
    const rows = await this.sql.rows<StoredRunEvent & Record<string, unknown>>(SQL.page, [runId, after, first + 1, organizationId]);
    const total = count ? ((await this.sql.first<{ n: number }>(SQL.count, [runId]))?.n ?? 0) : undefined;
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first, ...(total === undefined ? {} : { count: total }) };
  }
}

/**
 * Pieces arriving within this many milliseconds of the first one are written together. 40 ms:
 * a token stream at 50 pieces/s costs about 2 pieces per commit (the bench's run-events figure), and the
 * window stays a small part of the 250 ms a follower may wait.
 */
export const OUTPUT_COALESCE_MS = 40;

/**
 * Buffers a step's OUTPUT pieces and writes them in one append (one INSERT, one commit) per
 * window: the first piece opens a window of OUTPUT_COALESCE_MS, and pieces that arrive while a
 * write is in flight wait for it and go in the next one. A token stream then costs a commit per
 * window, not per token, and a piece waits at most a window plus one write. Writes are strictly
 * one after the other, so the pieces keep their order.
 */
export class OutputCoalescer {
  private buffer: NewRunEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private failed: unknown;
  /** The append was refused (lease lost or run cancelled): the step must stop. */
  stopped = false;
  /** Appends made, for the bench's commits-per-run figure. */
  writes = 0;

  constructor(
    private readonly write: (events: NewRunEvent[]) => Promise<boolean>,
    private readonly onStop: () => void,
    private readonly windowMs = OUTPUT_COALESCE_MS,
  ) {}

  push(event: NewRunEvent): void {
    if (this.stopped) return;
    this.buffer.push(event);
    if (!this.timer && !this.writing) this.timer = setTimeout(() => void this.flushNow(), this.windowMs);
  }

  private async flushNow(): Promise<void> {
    this.timer = undefined;
    if (this.writing || this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.writing = (async () => {
      try {
        this.writes++;
        if (!(await this.write(batch))) {
          this.stopped = true;
          this.buffer = [];
          this.onStop();
        }
      } catch (error) {
        this.failed ??= error;
      }
    })();
    await this.writing;
    this.writing = undefined;
    // What arrived during the write has waited long enough.
    if (this.buffer.length && !this.stopped) await this.flushNow();
  }

  /** Writes everything buffered; throws if a write failed (the step's output would have a gap). */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    if (this.buffer.length && !this.stopped) await this.flushNow();
    while (this.writing) await this.writing;
    if (this.failed) throw this.failed;
  }
}
