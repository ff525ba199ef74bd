/** An item waiting for its statement, and the promise its callers (merged ones included) hold. */
interface Waiting<I, O> {
  item: I;
  result: Promise<O>;
  resolve(result: O): void;
  reject(error: unknown): void;
}

/**
 * Writes of one kind made one statement at a time, those that arrive while one is in flight going
 * together in the next: a worker executing many runs then makes one statement (one round trip, one
 * commit) per round for all of them instead of one per run. A key (a run) has at most one write in
 * a statement; a second one waits for the next.
 */
export class WriteBatcher<I, O> {
  private readonly waiting: Array<Waiting<I, O>> = [];
  /** With `merge`: the waiting entry of each key, which later items of that key join. */
  private readonly waitingByKey = new Map<string, Waiting<I, O>>();
  private writing = false;
  /** When the last statement was sent (performance.now()). */
  private lastStart = -Infinity;

  /**
   * @param write writes the items in one statement and answers each one's result, in their order
   * @param keyOf what an item writes (at most one item per key in a statement)
   * @param options.minIntervalMs statements start at least this far apart: what arrives meanwhile
   *   waits and goes together (a lone item after a quiet spell is written at once)
   * @param options.merge joins an item into the waiting one of its key (not yet in a statement),
   *   which then answers for both, so that a key's items wait as one instead of one statement
   *   each; false leaves the item to wait on its own
   */
  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly keyOf: (item: I) => string,
    private readonly maxItems: number,
    private readonly options: { minIntervalMs?: number; merge?: (waiting: I, item: I) => boolean } = {},
  ) {}

  /** Writes `item` with whatever else is waiting when the statement before it is done. */
  add(item: I): Promise<O> {
    const { merge } = this.options;
    const key = merge ? this.keyOf(item) : '';
    const joined = merge ? this.waitingByKey.get(key) : undefined;
    if (joined && merge!(joined.item, item)) return joined.result;
    let settle!: Pick<Waiting<I, O>, 'resolve' | 'reject'>;
    const result = new Promise<O>((resolve, reject) => (settle = { resolve, reject }));
    const entry: Waiting<I, O> = { item, result, ...settle };
    this.waiting.push(entry);
    if (merge) this.waitingByKey.set(key, entry);
    if (!this.writing) void this.writeWaiting();
    return result;
  }

  private intervalLeft(): number {
    return this.lastStart + (this.options.minIntervalMs ?? 0) - performance.now();
  }

  private async writeWaiting(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length) {
        // A timer may fire a little early (libuv's clock is the loop's): wait until it is really over.
        for (let wait = this.intervalLeft(); wait > 0; wait = this.intervalLeft())
          await new Promise((resolve) => setTimeout(resolve, wait));
        this.lastStart = performance.now();
        const batch: typeof this.waiting = [];
        const later: typeof this.waiting = [];
        const keys = new Set<string>();
        for (const entry of this.waiting.splice(0)) {
          const key = this.keyOf(entry.item);
          if (keys.has(key) || batch.length >= this.maxItems) later.push(entry);
          else {
            keys.add(key);
            batch.push(entry);
            if (this.waitingByKey.get(key) === entry) this.waitingByKey.delete(key);
          }
        }
        this.waiting.unshift(...later);
        try {
          const results = await this.write(batch.map((entry) => entry.item));
          batch.forEach((entry, i) => entry.resolve(results[i]));
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
