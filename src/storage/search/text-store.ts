import type { EntityManager } from 'typeorm';
import { Page, pageOf, PageQuery, withTotal } from '../../db/page';
import { Columns, pick, selectList } from '../../db/columns';
import { Statement, statement, StatementRunner } from '../../db/statements';
import { ENTRY_COLUMNS } from '../storage-entry';

// Every statement on `storage_texts`, and search (which reads it beside storage_entries). The
// words, the configuration and the indexes are the Search migration's.

/** What `File.textStatus` says. */
export type TextStatus = 'PENDING' | 'INDEXED' | 'NOT_TEXT' | 'FAILED';

/** A PENDING row taken by a drain: the bytes to read, and how many reads of them were started (this one included). */
export interface PendingText {
  entryId: string;
  etag: string;
  attempts: number;
}

/** A file as extraction reads it. */
export interface TextSource {
  id: string;
  organizationId: string;
  name: string;
  objectKey: string;
  size: number;
  contentType: string;
  etag: string;
}

/** Where a search page starts: after the result with this score and id (best first, then by id). */
export interface SearchPosition {
  score: number;
  id: string;
}

export interface SearchQuery extends PageQuery<SearchPosition> {
  /** A tsquery text: every word must match, as a word or the start of one (queryText). */
  tsquery: string;
  kind: 'file' | 'folder' | null;
  /** Only children of these folders (a folder's tree, foldersBelow). */
  folderIds: string[] | null;
}

export interface SearchHit {
  id: string;
  score: number;
  snippet: string | null;
}

/**
 * SQL: the text rows of files given new bytes, from `rows` (entry id, organization id, etag,
 * status PENDING or NOT_TEXT): the old text, which no longer says what the file holds, is found
 * no more, and a PENDING row is there for the next drain to read (TextIndex.drain). Also a step
 * of the upload's one-statement commit (entry-store.ts commitUpload).
 */
export const SCHEDULE_TEXTS = (rows: string) => `INSERT INTO storage_texts (entry_id, organization_id, etag, status) ${rows}
     ON CONFLICT (entry_id) DO UPDATE SET etag = EXCLUDED.etag, status = EXCLUDED.status, body = NULL, document = NULL,
       reason = NULL, read_after = NULL, attempts = 0, updated_at = now()`;

/** A file as extraction reads it (TextSource): a part of storage_entries' columns. */
const TEXT_SOURCE = selectList(pick(ENTRY_COLUMNS, 'id', 'organizationId', 'name', 'objectKey', 'size', 'contentType', 'etag'), {
  from: 'e',
});

/** The columns of `storage_texts` that are read, each as the field it is read into. */
const TEXT_COLUMNS: Columns<PendingText & { status: TextStatus }> = {
  entryId: 'entry_id',
  etag: 'etag',
  attempts: 'attempts',
  status: 'status',
};

const SQL = {
  /** In the transaction that gave a file new bytes (a restored version): see SCHEDULE_TEXTS. */
  schedule: statement('storage.text-schedule', SCHEDULE_TEXTS('VALUES ($1, $2, $3, $4)')),
  /** The file of this id as it is now, when its text row is for these bytes ($2 null: whatever they are now). */
  source: statement(
    'storage.text-source',
    `SELECT ${TEXT_SOURCE} FROM storage_entries e JOIN storage_texts t ON t.entry_id = e.id AND t.etag = e.etag
      WHERE e.id = $1 AND e.kind = 'file' AND ($2::text IS NULL OR e.etag = $2)`,
  ),
  /** For a reindex: a text row for a file that has none (uploaded before search existed); an existing one keeps its text meanwhile. */
  ensure: statement(
    'storage.text-ensure',
    `INSERT INTO storage_texts (entry_id, organization_id, etag, status)
     SELECT id, organization_id, etag, 'PENDING' FROM storage_entries WHERE id = $1 AND kind = 'file'
     ON CONFLICT (entry_id) DO NOTHING`,
  ),
  /**
   * Takes up to $1 PENDING rows for a drain, oldest first: none taken by another drain (its lease,
   * read_after) or waiting for a retry, none tried $3 times already. Each is leased for $2 seconds
   * (no other drain reads it meanwhile; a drain that dies lets it go when the lease runs out).
   */
  claim: statement(
    'storage.text-claim',
    `UPDATE storage_texts SET read_after = now() + make_interval(secs => $2), attempts = attempts + 1
      WHERE entry_id IN (
        SELECT entry_id FROM storage_texts
         WHERE status = 'PENDING' AND (read_after IS NULL OR read_after <= now()) AND attempts < $3
         ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED
      )
      RETURNING ${selectList(pick(TEXT_COLUMNS, 'entryId', 'etag', 'attempts'))}`,
  ),
  /** A read of these bytes failed on a storage or database error: tried again by a drain after $3 seconds. */
  retryLater: statement(
    'storage.text-retry-later',
    `UPDATE storage_texts SET read_after = now() + make_interval(secs => $3) WHERE entry_id = $1 AND etag = $2 AND status = 'PENDING'`,
  ),
  /** The outcome of an extraction, kept only while the file still has the bytes it was read from. */
  store: statement(
    'storage.text-store',
    `UPDATE storage_texts SET status = $3, body = $4, document = to_tsvector('alloy_search', alloy_search_words($4)),
       reason = $5, extracted_at = now(), updated_at = now()
     WHERE entry_id = $1 AND etag = $2`,
  ),
  statuses: statement(
    'storage.text-statuses',
    `SELECT ${selectList(pick(TEXT_COLUMNS, 'entryId', 'status'))} FROM storage_texts WHERE entry_id = ANY($1::uuid[]) AND organization_id = $2`,
  ),
  /** A page of an organization's files by id, for a reindex ($2 the id after which it starts). */
  files: statement(
    'storage.text-files',
    `SELECT id, etag FROM storage_entries WHERE organization_id = $1 AND kind = 'file' AND ($2::uuid IS NULL OR id > $2)
      ORDER BY id LIMIT $3`,
  ),
  /** The folder $1 of organization $2 and every folder below it. */
  foldersBelow: statement(
    'storage.search-folders-below',
    `WITH RECURSIVE below AS (
       SELECT id FROM storage_entries WHERE id = $1 AND organization_id = $2 AND kind = 'folder'
       UNION ALL
       SELECT e.id FROM below b JOIN storage_entries e ON e.parent_id = b.id AND (e.kind = 'file') = false
     ) SELECT array_agg(id) AS ids FROM below`,
  ),
  fileCount: statement(
    'storage.text-file-count',
    `SELECT count(*)::int AS count FROM storage_entries WHERE organization_id = $1 AND kind = 'file'`,
  ),
};

/*
 * Search, in one statement: the entries of organization $1 whose name, or whose file's text,
 * holds every word of the query $2 (a tsquery text `'word':* & …`, see queryText), each scored
 * once: a name match counts 1 plus how well the name matches, so that names come before text, and
 * a text match adds its cover density rank (0 to 1). Each match is found through a GIN index on
 * (organization_id, words): storage_entries_name_search, and storage_texts_search in
 * alloy_text_matches (Search migration), which reads each matching document once, for its rank.
 * `to_tsquery` is written where it is used, not in a CTE, so that the planner sees a constant.
 * `$4` is a kind or null, `$5` the folders whose children may be found (a folder's tree, see
 * foldersBelow), or null.
 */
const TSQUERY = `to_tsquery('alloy_search', $2)`;
const NAME_WORDS = `to_tsvector('alloy_search', alloy_search_words(e.name))`;
const QUERY = `
  hits AS (
    SELECT e.id, 1 + ts_rank(${NAME_WORDS}, ${TSQUERY}) AS name_score, 0::real AS text_score
      FROM storage_entries e WHERE e.organization_id = $1 AND ${NAME_WORDS} @@ ${TSQUERY}
    UNION ALL
    SELECT entry_id, 0, rank FROM alloy_text_matches($1, ${TSQUERY})
  ),
  scored AS (
    SELECT e.id, (max(h.name_score) + max(h.text_score))::float8 AS score, bool_or(h.name_score = 0) AS in_text
      FROM hits h JOIN storage_entries e ON e.id = h.id
     WHERE ${searchable('e')}
       AND ($4::text IS NULL OR e.kind = $4)
       AND ($5::uuid[] IS NULL OR e.parent_id = ANY($5::uuid[]))
     GROUP BY e.id
  )`;

/**
 * The one place that says which entries search may find: the caller's organization's, and none in
 * the trash (neither the entry nor a folder above it: storage_entry_is_live walks the parent
 * pointers up, one index lookup a level).
 */
function searchable(alias: string): string {
  return `${alias}.organization_id = $1 AND storage_entry_is_live(${alias}.id)`;
}

/**
 * Snippets are cut from the start of the text up to here: ts_headline parses all it is given
 * (about 0.05 ms a KB), and a page of 20 long PDFs would otherwise take half a second. A match
 * further in still finds the file; its snippet is then the start of the text, unmarked.
 */
export const SNIPPET_SOURCE_CHARS = 30_000;

/** A page of `scored`, best first, after ($6, $7) when given, with the snippets of its text matches. */
const SEARCH_PAGE = `
  SELECT p.id, p.score,
         CASE WHEN p.in_text THEN ts_headline('alloy_search', left(t.body, ${SNIPPET_SOURCE_CHARS}), ${TSQUERY},
           'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "') END AS snippet
    FROM (SELECT id, score, in_text FROM scored
           WHERE $6::float8 IS NULL OR score < $6 OR (score = $6 AND id > $7::uuid)
           ORDER BY score DESC, id LIMIT $3) AS p
    LEFT JOIN storage_texts t ON p.in_text AND t.entry_id = p.id
   ORDER BY p.score DESC, p.id`;

const SEARCH: Record<'page' | 'count', Statement> = {
  page: statement('storage.search', `WITH ${QUERY} ${SEARCH_PAGE}`),
  count: statement(
    'storage.search-count',
    `WITH ${QUERY} ${withTotal('SELECT count(*)::int AS total FROM scored', SEARCH_PAGE, 'p.score DESC, p.id')}`,
  ),
};

/** Extracted text and search over it, in Postgres. */
export class TextStore {
  constructor(private readonly sql: StatementRunner) {}

  /**
   * Inside `tx`: the file has new bytes (`etag`), whose text is to be read (PENDING), or which hold
   * none to read (NOT_TEXT, known from the type alone).
   */
  async schedule(
    tx: EntityManager,
    entry: { id: string; organizationId: string; etag: string },
    status: 'PENDING' | 'NOT_TEXT',
  ): Promise<void> {
    await this.sql.run(SQL.schedule, [entry.id, entry.organizationId, entry.etag, status], tx);
  }

  /** Up to `limit` PENDING rows for a drain, each leased for `leaseSeconds` (see SQL.claim). */
  claim(limit: number, leaseSeconds: number, maxAttempts: number): Promise<PendingText[]> {
    return this.sql.rows<PendingText>(SQL.claim, [limit, leaseSeconds, maxAttempts]);
  }

  async retryLater(entryId: string, etag: string, delaySeconds: number): Promise<void> {
    await this.sql.run(SQL.retryLater, [entryId, etag, delaySeconds]);
  }

  /** The file as extraction reads it, or null when it is gone or has other bytes than `etag` by now. */
  source(entryId: string, etag: string | null): Promise<TextSource | null> {
    return this.sql.first<TextSource>(SQL.source, [entryId, etag]);
  }

  async ensure(entryId: string): Promise<void> {
    await this.sql.run(SQL.ensure, [entryId]);
  }

  /** Whether the outcome was kept (false: the file got other bytes meanwhile). */
  async store(entryId: string, etag: string, status: TextStatus, body: string | null, reason: string | null): Promise<boolean> {
    return (await this.sql.count(SQL.store, [entryId, etag, status, body, reason])) > 0;
  }

  async statuses(organizationId: string, ids: readonly string[]): Promise<Map<string, TextStatus>> {
    const rows = await this.sql.rows<{ entryId: string; status: TextStatus }>(SQL.statuses, [ids, organizationId]);
    return new Map(rows.map((row) => [row.entryId, row.status]));
  }

  filePage(organizationId: string, afterId: string | null, limit: number): Promise<Array<{ id: string; etag: string }>> {
    return this.sql.rows(SQL.files, [organizationId, afterId, limit]);
  }

  async fileCount(organizationId: string): Promise<number> {
    return (await this.sql.first<{ count: number }>(SQL.fileCount, [organizationId]))!.count;
  }

  /** The folder and every folder below it (its tree's folders), in one statement. */
  async foldersBelow(organizationId: string, folderId: string): Promise<string[]> {
    return (await this.sql.first<{ ids: string[] | null }>(SQL.foldersBelow, [folderId, organizationId]))?.ids ?? [];
  }

  async search(organizationId: string, query: SearchQuery): Promise<Page<SearchHit>> {
    const values = [
      organizationId,
      query.tsquery,
      query.first + 1,
      query.kind,
      query.folderIds,
      query.after?.score ?? null,
      query.after?.id ?? null,
    ];
    const rows = await this.sql.rows<SearchHit & { total?: number }>(query.count ? SEARCH.count : SEARCH.page, values);
    return pageOf(rows, query);
  }
}
