import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Run ids ordered by time. The gateway makes run and conversation ids as version 7 uuids
 * (src/db/ids.ts uuidv7): new runs append to the right edge of the primary key instead of
 * writing to random pages of an index that, at hundreds of millions of runs, no longer fits in
 * memory. `uuid_v7()` is the same in SQL, the default for rows inserted without an id (bench
 * seeds, manual fixes); existing ids stay as they are (random ones still work, they only sort
 * apart from the new ones).
 */
export class TimeOrderedRunIds1765800000001 implements MigrationInterface {
  name = 'TimeOrderedRunIds1765800000001';

  async up(q: QueryRunner): Promise<void> {
    // 48 bits of Unix milliseconds over the first six bytes of a random uuid, version bits 0111.
    await q.query(`
      CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
        SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                 PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
               52, 1), 53, 1), 'hex')::uuid
      $$`);
    await q.query(`ALTER TABLE workflow_runs ALTER COLUMN id SET DEFAULT uuid_v7()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs ALTER COLUMN id SET DEFAULT gen_random_uuid()`);
    await q.query(`DROP FUNCTION uuid_v7()`);
  }
}
