import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import { transactionConnection } from '../db/statements';
import { describeDatabaseError, isDatabaseUnavailable } from '../db/unavailable';
import type { Logger } from '../observability/logger';

/*
 * pg-boss 10 (the last line for Node 20) calls `complete` and `fail` after a job's handler without
 * awaiting them, so when the database goes away while a job runs, their rejection is unhandled and
 * ends the process. Here they still reject for callers that await them; a job whose completion was
 * lost stays active until it expires and is then retried, which every job here tolerates
 * (deleting objects and sweeping are idempotent).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Manager: { prototype: Record<string, (...args: unknown[]) => Promise<unknown>> } = require('pg-boss/src/manager');
for (const method of ['complete', 'fail'] as const) {
  const original = Manager.prototype[method];
  if ((original as { guarded?: boolean }).guarded) continue;
  const guarded = function (this: unknown, ...args: unknown[]) {
    const result = original.apply(this, args);
    result.catch(() => undefined);
    return result;
  };
  Object.assign(guarded, { guarded: true });
  Manager.prototype[method] = guarded;
}

/**
 * The durable job queue (pg-boss 10) on the gateway's own Postgres, in schema `pgboss`. Jobs are
 * sent inside the caller's transaction (see `inTransaction`), so a job exists if and only if the
 * change that asked for it committed. One per process, made by `startQueue`.
 */
export class Queue extends PgBoss {
  /** The pg-boss queues this process has made sure of, by name (see `ensure`). */
  private readonly ensured = new Map<string, Promise<void>>();

  /** pg-boss 10 silently drops jobs sent to a queue that does not exist, so each is created once per process. */
  ensure(name: string, options: Omit<PgBoss.Queue, 'name'>): Promise<void> {
    let ready = this.ensured.get(name);
    if (!ready) {
      ready = this.createQueue(name, { name, ...options });
      ready.catch(() => this.ensured.delete(name));
      this.ensured.set(name, ready);
    }
    return ready;
  }
}

export async function startQueue(url: string, logger: Logger, options: { supervise?: boolean; connections?: number } = {}): Promise<Queue> {
  const boss = new Queue({
    connectionString: url,
    schema: 'pgboss',
    max: options.connections ?? 4,
    application_name: 'alloy-queue',
    // Maintenance (expiry, archiving) runs in every process that starts the queue; pg-boss takes an
    // advisory lock so two processes don't do it at once.
    supervise: options.supervise ?? true,
  });
  // pg-boss reports a lost database here and keeps retrying on its own; the process must stay up.
  boss.on('error', (error) => {
    // An outage is logged by name, code and message (`error`), a bug with its stack (`err`).
    const detail = isDatabaseUnavailable(error) ? { error: describeDatabaseError(error) } : { err: error };
    logger.error({ ...detail, component: 'queue' }, 'queue error');
  });
  await boss.start();
  return boss;
}

/** A pg-boss `db` that runs the job insert on the caller's transaction (its SQL is pg-boss's, so not a named statement). */
export function inTransaction(tx: EntityManager): PgBoss.Db {
  return {
    executeSql: async (text: string, values: unknown[]) => (await transactionConnection(tx)).query(text, values),
  };
}
