import { Router } from 'express';
import type { DataSource } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import type { Logger } from '../observability/logger';
import type { ReadinessCheck } from '../observability/readiness';

export type { ReadinessCheck };

const CHECK_TIMEOUT_MS = 2000;

const PING = statement('health.ping', 'SELECT 1');

/** `/readyz` part: the data source's pool reaches the database. */
export function databaseReadiness(db: DataSource): ReadinessCheck {
  const sql = new StatementRunner(db);
  return { name: 'database', check: async () => void (await sql.run(PING, [])) };
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * `/healthz`: the process answers. `/readyz`: every dependency answers, each within 2 s. A failed
 * check's reason (a driver message naming hosts and ports) is logged, and shown only when `showDetails`.
 */
export function healthRouter(logger: Logger, showDetails: boolean, checks: ReadinessCheck[]): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          return [name, { ok: true }] as const;
        } catch (error) {
          const reason = (error as Error).message;
          logger.warn({ check: name, reason }, 'readiness check failed');
          return [name, { ok: false, error: showDetails ? reason : 'unavailable' }] as const;
        }
      }),
    );
    const ready = results.every(([, r]) => r.ok);
    res.status(ready ? 200 : 503).json({ ready, checks: Object.fromEntries(results) });
  });
  return router;
}
