import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search over names and the text inside files (Postgres full-text search, no second server).
 *
 * - `alloy_search`, a text search configuration: the `simple` one (no stemming, no stop words:
 *   an organization's files are in any language, and English stemming would mangle the others;
 *   prefix matching gives most of what stemming would) with `unaccent` in front, so that "Zürich"
 *   and "zurich", "Café" and "CAFE" are the same word. `unaccent` is a trusted contrib extension:
 *   a database owner may create it without being superuser.
 * - `alloy_search_words(text)`: ASCII and common Unicode punctuation made spaces, so that a name
 *   like `report_2024-final.v2.pdf` is the words report 2024 final v2 pdf (the default parser
 *   would keep `v2.pdf` as one "file" token, which a search for "pdf" would not find).
 * - Names are searched through an expression index on storage_entries (no column added to the
 *   listing rows); text extracted from files lives in `storage_texts`, one row per file, apart
 *   from storage_entries so that listings stay small.
 * - Both GIN indexes lead with organization_id (`btree_gin`, trusted contrib too): a search reads
 *   the index entries of its own organization's matches only, however many other organizations
 *   use the same words.
 */
export class Search1765600000000 implements MigrationInterface {
  name = 'Search1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS unaccent`);
    await q.query(`CREATE EXTENSION IF NOT EXISTS btree_gin`);
    await q.query(`CREATE TEXT SEARCH CONFIGURATION alloy_search (COPY = pg_catalog.simple)`);
    await q.query(`
      ALTER TEXT SEARCH CONFIGURATION alloy_search
        ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword, hword_numpart
        WITH unaccent, simple`);
    await q.query(`
      CREATE FUNCTION alloy_search_words(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      RETURN regexp_replace($1, '[\\s\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e\\u00a0-\\u00bf\\u2000-\\u206f\\u3000-\\u303f\\uff01-\\uff0f]+', ' ', 'g')`);
    await q.query(`
      CREATE INDEX storage_entries_name_search ON storage_entries
        USING gin (organization_id, to_tsvector('alloy_search', alloy_search_words(name)))`);
    // One row per file whose text was asked for: its status for the etag it was asked for (a job
    // for an older etag finds a newer one and writes nothing), the text, and its words.
    await q.query(`
      CREATE TABLE storage_texts (
        entry_id uuid PRIMARY KEY REFERENCES storage_entries(id) ON DELETE CASCADE,
        organization_id uuid NOT NULL,
        etag text NOT NULL,
        status text NOT NULL CHECK (status IN ('PENDING', 'INDEXED', 'NOT_TEXT', 'FAILED')),
        body text,
        document tsvector,
        reason text,
        extracted_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX storage_texts_search ON storage_texts USING gin (organization_id, document)`);
    // The files of organization $1 whose text matches $2, with their cover density rank (0 to 1).
    // A function of its own for one reason: the planner prices a sequential scan of storage_texts
    // by its heap, which is small because the text and its tsvector live in TOAST, and then
    // evaluates @@ on every row, decompressing every document (half a second for 10,000 files of
    // 5 KB). Through the GIN index only the matches are read, so sequential scans are off here.
    await q.query(`
      CREATE FUNCTION alloy_text_matches(organization uuid, query tsquery) RETURNS TABLE (entry_id uuid, rank real)
      LANGUAGE sql STABLE PARALLEL SAFE SET enable_seqscan = off
      AS $$ SELECT t.entry_id, ts_rank_cd(t.document, query, 32) FROM storage_texts t
             WHERE t.organization_id = organization AND t.document @@ query $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION alloy_text_matches(uuid, tsquery)`);
    await q.query(`DROP TABLE storage_texts`);
    await q.query(`DROP INDEX storage_entries_name_search`);
    await q.query(`DROP FUNCTION alloy_search_words(text)`);
    await q.query(`DROP TEXT SEARCH CONFIGURATION alloy_search`);
  }
}
