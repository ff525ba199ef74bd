/** How a poll goes: how long it may take, how often it reads, and whether a read that throws counts as not yet. */
export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** A read that throws (a gateway still down, say) is a "not yet" instead of the poll's failure. */
  ignoreErrors?: boolean;
}

export interface PollResult<T> {
  /** The last value read (undefined, whatever T says, when the last read threw and errors are ignored). */
  value: T;
  /** Whether `done` held for `value` before the time ran out. */
  reached: boolean;
  /** How long it took. */
  ms: number;
}

/**
 * Reads until `done` holds for the value or `timeoutMs` has passed, and says which. For the work
 * of other connections and processes (jobs, notifications, child processes), which a test can
 * only watch; nothing here asserts how long it took.
 */
export async function poll<T>(read: () => T | Promise<T>, done: (value: T) => unknown, options: PollOptions = {}): Promise<PollResult<T>> {
  const { timeoutMs = 30_000, intervalMs = 100, ignoreErrors = false } = options;
  const started = Date.now();
  for (;;) {
    let value: T | undefined;
    let reached = false;
    try {
      value = await read();
      reached = Boolean(done(value));
    } catch (error) {
      if (!ignoreErrors) throw error;
    }
    const ms = Date.now() - started;
    if (reached || ms > timeoutMs) return { value: value as T, reached, ms };
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The value `read` gives once `done` holds for it (by default: once it is truthy); fails naming
 * `what` and the last value when that has not happened within `timeoutMs`.
 */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  done: (value: T) => unknown = Boolean,
  timeoutMs = 30_000,
  what: string | (() => string) = 'condition',
  intervalMs = 100,
): Promise<T> {
  const result = await poll(read, done, { timeoutMs, intervalMs });
  if (!result.reached) {
    throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}; last value: ${JSON.stringify(result.value)}`);
  }
  return result.value;
}

/**
 * Waits until the clock has moved past the current millisecond: rows keep created_at to the
 * millisecond and lists order ties by id, so a test that expects "oldest first" in creation order
 * must create its rows in different milliseconds.
 */
export const nextMillisecond = () => new Promise<void>((resolve) => setTimeout(resolve, 2));
