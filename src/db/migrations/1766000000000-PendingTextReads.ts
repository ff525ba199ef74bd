import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The text of uploaded files is read by draining `PENDING` rows of `storage_texts` instead of by
 * one job per file sent in the upload's transaction: an upload commits in one autocommitted
 * statement that writes the file's text row, and the extraction job (kicked after the commit,
 * and sent every half minute) takes pending rows in batches.
 *
 * - `read_after`: a row is not taken before this time. Set when a drain takes the row (a lease:
 *   no other drain reads it meanwhile, and a drain that dies lets it go when it runs out) and when
 *   a read failed on a storage or database error (the delay before the next try). Null: now.
 * - `attempts`: reads started for these bytes; an upload of new bytes sets it back to 0. After
 *   the last try a row stays `PENDING` (as the per-file job left it after its last retry) until
 *   `alloy storage reindex` reads it.
 * - `storage_texts_pending`: the drain's index, on the few rows still to be read.
 *
 * Jobs of the per-file queue (`storage.extract-text`) left at the upgrade are not worked any
 * more: their files' rows are `PENDING`, which the drain reads; pg-boss archives those jobs after
 * its retention.
 */
export class PendingTextReads1766000000000 implements MigrationInterface {
  name = 'PendingTextReads1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE storage_texts ADD COLUMN read_after timestamptz, ADD COLUMN attempts smallint NOT NULL DEFAULT 0`);
    await q.query(`CREATE INDEX storage_texts_pending ON storage_texts (updated_at) WHERE status = 'PENDING'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX storage_texts_pending`);
    await q.query(`ALTER TABLE storage_texts DROP COLUMN read_after, DROP COLUMN attempts`);
  }
}
