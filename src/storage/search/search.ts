import type { Page, PageQuery } from '../../db/page';
import { badInput } from '../../graphql/errors';
import type { EntryReads } from '../entry-reads';
import type { StorageEntry } from '../storage-entry';
import type { SearchPosition, TextStore } from './text-store';

/** Longest `query` taken; longer is BAD_USER_INPUT. */
export const MAX_QUERY_CHARS = 256;
/** At most this many words of a query are matched (each one more index lookup). */
export const MAX_QUERY_WORDS = 16;

export interface SearchArgs extends PageQuery<SearchPosition> {
  query: string;
  under: string | null;
  kind: 'file' | 'folder' | null;
}

/** A found entry, with its path, score and (for a match in its text) snippet. */
export interface SearchResultRow {
  entry: StorageEntry & { path: string };
  score: number;
  snippet: string | null;
}

/** Separators: what is not a letter, digit or mark, and the punctuation blocks alloy_search_words (Search migration) makes spaces. */
const SEPARATORS = /[^\p{L}\p{N}\p{M}]|[\u00a0-\u00bf\u2000-\u206f\u3000-\u303f\uff01-\uff0f]/u;

/**
 * The words of a query: runs of letters, digits and marks (NFC), everything else a separator,
 * as the Search migration's alloy_search_words splits names. BAD_USER_INPUT when there is none.
 */
export function queryWords(query: string): string[] {
  if (query.length > MAX_QUERY_CHARS) throw badInput(`query must be at most ${MAX_QUERY_CHARS} characters`, { argument: 'query' });
  const words = query.normalize('NFC').split(SEPARATORS).filter(Boolean);
  if (!words.length) throw badInput('query must contain a word (letters or digits)', { argument: 'query' });
  return words.slice(0, MAX_QUERY_WORDS);
}

/**
 * The tsquery text of the words: each a prefix (`'quart':*`), all required. Quoting is safe: a
 * word holds no quote or backslash. to_tsquery then folds each word as names and texts were
 * folded (the alloy_search configuration: unaccented, lower case).
 */
export const queryText = (words: string[]): string => words.map((word) => `'${word}':*`).join(' & ');

/** Search over names and the text inside files of one organization. */
export class Search {
  constructor(
    private readonly texts: TextStore,
    private readonly reads: EntryReads,
  ) {}

  async search(organizationId: string, args: SearchArgs): Promise<Page<SearchResultRow>> {
    const tsquery = queryText(queryWords(args.query));
    let folderIds: string[] | null = null;
    if (args.under !== null) {
      const folder = await this.reads.findByPath(organizationId, args.under);
      // Nothing is below a path where no folder is.
      if (folder?.kind !== 'folder') return { rows: [], hasNextPage: false, ...(args.count ? { count: 0 } : {}) };
      // The root's tree is the whole organization.
      if (folder.parentId !== null) folderIds = await this.texts.foldersBelow(organizationId, folder.id);
    }
    const page = await this.texts.search(organizationId, { ...args, tsquery, folderIds });
    const entries = page.rows.length
      ? await this.reads.findByIds(
          organizationId,
          page.rows.map((hit) => hit.id),
        )
      : [];
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    const rows: SearchResultRow[] = [];
    for (const hit of page.rows) {
      const entry = byId.get(hit.id);
      // Deleted between the two statements: left out of this page.
      if (!entry) continue;
      rows.push({ entry, score: hit.score, snippet: hit.snippet === null ? null : hit.snippet.replace(/\s+/g, ' ').trim() });
    }
    return { ...page, rows };
  }
}
