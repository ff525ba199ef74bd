/** The SQLSTATE codes the gateway acts on (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const PgError = {
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
  DEADLOCK_DETECTED: '40P01',
  LOCK_NOT_AVAILABLE: '55P03',
} as const;

/** The SQLSTATE of a driver error, or undefined for anything else. */
export const pgCode = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * Runs `work` again when Postgres chose it as a deadlock's victim: the other transaction went
 * through, so running again is what the caller wanted (e.g. concurrent `mkdir -p` of overlapping paths).
 */
export async function retryOnDeadlock<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (pgCode(error) !== PgError.DEADLOCK_DETECTED || attempt >= attempts) throw error;
    }
  }
}
