import { isUuid } from '../db/ids';
import { notFound } from '../graphql/errors';
import { isFinalEvent, RunEventLog } from './run-event-log';
import type { RunEventType, StoredRunEvent } from './run-event.type';
import type { RunEvent, RunEvents } from './run-events';

/** Events read per query while catching up. */
const READ_BATCH = 500;

/**
 * One run's stored events with `seq > after`, for `workflowRunEvents` and `GET /runs/:id/events`:
 * those already stored first, then each new one as it is written, every one exactly once and in
 * order (the stored `seq` is the cursor, so nothing is skipped or repeated whatever the
 * announcements do), ending after the final STATUS event. The run's announcements (any process's,
 * through the one LISTEN) only wake it to read what follows its last seq; RunEvents' periodic
 * re-read of watched runs and a LISTEN reconnect wake it too, so a lost announcement delays an
 * event by a few seconds at worst and loses none. `return()` (client gone) stops it at once.
 */
export class RunEventStream implements AsyncIterableIterator<StoredRunEvent> {
  private readonly ready: StoredRunEvent[] = [];
  private ended = false;
  private finalSeen = false;
  /** Something may have been written since the last read. */
  private dirty = true;
  private reading = false;
  /** Announced events that arrived while a read was in flight, in announcement order. */
  private aside: NonNullable<RunEvent['appended']> = [];
  private wake: (() => void) | undefined;
  private unwatch: () => void = () => undefined;

  private constructor(
    private readonly log: RunEventLog,
    private readonly organizationId: string,
    private readonly runId: string,
    private lastSeq: number,
  ) {}

  /**
   * NOT_FOUND for an id that is no run of the organization (another organization's included).
   * `readRun` checks that; the watch starts before the first read, so that an event written in
   * between is either read or announced afterwards.
   */
  static async start(
    events: RunEvents,
    log: RunEventLog,
    runExists: (organizationId: string, runId: string) => Promise<boolean>,
    organizationId: string,
    runId: string,
    after: number | null | undefined,
  ): Promise<RunEventStream> {
    if (!isUuid(runId)) throw notFound('Workflow run');
    const stream = new RunEventStream(log, organizationId, runId.toLowerCase(), Math.max(0, after ?? 0));
    await events.followOutput();
    stream.unwatch = events.watchRun(runId, { onEvent: (event) => stream.announced(event), onReconnect: () => stream.poke() });
    let exists: boolean;
    try {
      exists = await runExists(organizationId, runId);
    } catch (error) {
      stream.unwatch();
      throw error;
    }
    if (!exists) {
      stream.unwatch();
      throw notFound('Workflow run');
    }
    return stream;
  }

  /** The last seq handed out (what a client resumes after). */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * An announcement of the run: events it carries that follow right after the last one this
   * stream holds are taken as they are (no read). While a read is in flight, they are kept aside
   * and taken after it, from the read's last seq on (the read may or may not have seen them):
   * poking instead made a stream that reads while its run keeps streaming read again after every
   * read, one page read per announcement for as long as the stream lasted, all followers queueing
   * on the pool (BENCHMARKS.md, run-events). One that only tells the run's last event number
   * (RunEvents' periodic re-read of watched runs) makes it read only when that is past what it
   * holds: every follower reading the table at once every few seconds delayed the events that
   * arrived meanwhile by the wait for a pooled connection. Anything else (a status change, a gap)
   * makes the stream read the table.
   */
  private announced(event: RunEvent): void {
    const appended = event.appended;
    if (!appended?.length && event.events !== undefined && !this.finalSeen && event.events <= this.tail()) return;
    if (!appended?.length || this.finalSeen) {
      this.poke();
      return;
    }
    // A read is due: it will see these (committed before their announcement).
    if (this.dirty && !this.reading) return;
    if (this.reading) this.aside.push(...appended);
    else this.take(appended);
  }

  /** Takes announced events (in seq order) from the one after the tail on, each once; a gap makes the stream read. */
  private take(appended: NonNullable<RunEvent['appended']>): void {
    let tail = this.tail();
    let took = false;
    for (const e of appended) {
      if (e.seq <= tail) continue;
      if (e.seq !== tail + 1) {
        this.poke();
        return;
      }
      this.ready.push({ ...e, type: e.type as RunEventType, at: new Date(e.at) });
      tail = e.seq;
      took = true;
    }
    if (!took) return;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The seq of the last event this stream holds (handed out or ready). */
  private tail(): number {
    return this.ready.length ? this.ready[this.ready.length - 1].seq : this.lastSeq;
  }

  private poke(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<StoredRunEvent>> {
    for (;;) {
      const value = this.ready.shift();
      if (value) {
        this.lastSeq = value.seq;
        return { value, done: false };
      }
      if (this.ended || this.finalSeen) {
        this.end();
        return { value: undefined, done: true };
      }
      if (this.dirty) {
        this.dirty = false;
        this.reading = true;
        this.aside = [];
        let page;
        try {
          page = await this.log.page(this.organizationId, this.runId, this.lastSeq, READ_BATCH);
        } finally {
          this.reading = false;
        }
        if (this.ended) continue;
        for (const event of page.rows) {
          this.ready.push(event);
          if (isFinalEvent(event)) {
            this.finalSeen = true;
            break;
          }
        }
        // A full batch: more are stored already.
        if (page.hasNextPage && !this.finalSeen) this.dirty = true;
        const aside = this.aside;
        this.aside = [];
        if (!this.dirty && !this.finalSeen && aside.length) {
          aside.sort((a, b) => a.seq - b.seq);
          this.take(aside);
        }
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  return(): Promise<IteratorResult<StoredRunEvent>> {
    this.ready.length = 0;
    this.aside = [];
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<StoredRunEvent>> {
    this.return();
    return Promise.reject(error);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.unwatch();
    this.poke();
  }
}
