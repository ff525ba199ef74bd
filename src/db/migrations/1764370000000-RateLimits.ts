import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-API-key request counters shared by every gateway process (src/limits/rate-limit.ts). The
 * columns are the ones rate-limiter-flexible's RateLimiterPostgres reads and writes; `expire` is a
 * Unix time in milliseconds. The library deletes rows expired for an hour every five minutes.
 */
export class RateLimits1764370000000 implements MigrationInterface {
  name = 'RateLimits1764370000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rate_limits (
        key varchar(255) PRIMARY KEY,
        points integer NOT NULL DEFAULT 0,
        expire bigint
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rate_limits`);
  }
}
