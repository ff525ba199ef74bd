import type { ServerResponse } from 'node:http';
import { RateLimiterAbstract, RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { DataSource } from 'typeorm';
import type { RateLimitConfig } from '../config/config';
import { AppError, ErrorCode } from '../graphql/errors';
import { metrics } from '../observability/metrics';

/** Created by migration RateLimits1764370000000 with the columns rate-limiter-flexible expects. */
export const RATE_LIMIT_TABLE = 'rate_limits';
const WINDOW_SECONDS = 60;

/**
 * Per-API-key request budget, `perMinute` requests in a fixed one-minute window. With the
 * `postgres` store the counters live in the gateway's database, so every gateway process on it
 * spends from the same budget; keys over budget are also remembered in memory until their window
 * ends, so a client that keeps hammering costs no database round trip.
 */
export class ApiKeyRateLimiter {
  private constructor(
    private readonly limiter: RateLimiterAbstract | null,
    readonly perMinute: number,
  ) {}

  static create(config: RateLimitConfig, db: DataSource): ApiKeyRateLimiter {
    if (config.perMinute === 0) return new ApiKeyRateLimiter(null, 0);
    const common = {
      keyPrefix: 'apikey',
      points: config.perMinute,
      duration: WINDOW_SECONDS,
      inMemoryBlockOnConsumed: config.perMinute + 1,
    };
    const limiter =
      config.store === 'memory'
        ? new RateLimiterMemory(common)
        : new RateLimiterPostgres({
            ...common,
            // TypeORM's pg Pool: no extra connections for the limiter.
            storeClient: (db.driver as unknown as { master: unknown }).master,
            storeType: 'pool',
            tableName: RATE_LIMIT_TABLE,
            tableCreated: true,
          });
    return new ApiKeyRateLimiter(limiter, config.perMinute);
  }

  /**
   * Spends one request of the key's budget and sets the `RateLimit-*` headers on `res`. Over
   * budget it sets `Retry-After` (seconds) and throws RATE_LIMITED (HTTP 429). If the store
   * cannot be reached the request goes through: the database being down fails it anyway, with a
   * clearer error than a rate limit.
   */
  async consume(keyId: string, res?: ServerResponse): Promise<void> {
    if (!this.limiter) return;
    let outcome: RateLimiterRes;
    try {
      outcome = await this.limiter.consume(keyId);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) {
        metrics.rateLimitStoreErrors.inc();
        return;
      }
      const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      if (res && !res.headersSent) {
        this.setHeaders(res, 0, retryAfter);
        res.setHeader('Retry-After', String(retryAfter));
      }
      metrics.rateLimited.inc();
      throw new AppError(
        ErrorCode.RATE_LIMITED,
        `Rate limit of ${this.perMinute} requests per minute for this API key exceeded; retry in ${retryAfter} s`,
        { retryAfter },
      );
    }
    if (res && !res.headersSent) this.setHeaders(res, outcome.remainingPoints, Math.ceil(outcome.msBeforeNext / 1000));
  }

  private setHeaders(res: ServerResponse, remaining: number, resetSeconds: number): void {
    res.setHeader('RateLimit-Limit', String(this.perMinute));
    res.setHeader('RateLimit-Remaining', String(remaining));
    res.setHeader('RateLimit-Reset', String(Math.max(0, resetSeconds)));
  }
}
