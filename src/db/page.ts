import { Columns, selectList } from './columns';
import { Statement, statement } from './statements';

/**
 * Pages of a list as services read and return them. Services know nothing of cursors or
 * connections: they take a position of their list's own order and answer rows; src/graphql/
 * turns cursors into positions and pages into connections.
 */

/** One page: its rows, whether more follow, and how long the whole list is when that was asked. */
export interface Page<T> {
  rows: T[];
  hasNextPage: boolean;
  /** Only when asked for (`PageQuery.count`): counting a long list costs more than its page. */
  count?: number;
}

/** How a page is asked for: at most `first` rows after `after` (from the start when null). */
export interface PageQuery<TPosition> {
  first: number;
  after: TPosition | null;
  /** Whether to count the whole list (not only what follows `after`). */
  count: boolean;
}

/** A position in a list ordered by creation: (created_at, id), the id breaking ties. */
export interface CreatedAtPosition {
  createdAt: Date;
  id: string;
}

/*
 * The count policy, the same for every list: a page statement reads `first + 1` rows (the extra
 * row says whether there is a next page), and the list is counted only when asked, in the same
 * statement as its page, so that a counted page is still one round trip.
 */

/**
 * `pageSql` (a SELECT of the page, ending in its LIMIT) with the list's size added: every row
 * carries `total`, and an empty page comes back as one row whose other columns are all null.
 * `order` repeats the page's order over the page's columns, qualified with `p.`.
 */
export function withTotal(countSql: string, pageSql: string, order: string): string {
  return `SELECT c.total, p.* FROM (${countSql}) AS c LEFT JOIN LATERAL (${pageSql}) AS p ON true ORDER BY ${order}`;
}

/** The page of what a page statement (made `withTotal` when `query.count`) answered. */
export function pageOf<T extends { id: unknown; total?: number }>(result: T[], query: { first: number; count: boolean }): Page<T> {
  const rows = query.count ? result.filter((row) => row.id !== null) : result;
  const page: Page<T> = { rows: rows.length > query.first ? rows.slice(0, query.first) : rows, hasNextPage: rows.length > query.first };
  if (query.count) page.count = result[0]?.total ?? 0;
  return page;
}

/**
 * The statements of a list of `table` rows oldest first, keyset-paged on (created_at, id), of the
 * rows `where` holds ($1 the organization, $2 the page size + 1, $3 and $4 the position after),
 * read with `columns`: with or without a position, counted or not, each prepared under its own
 * name (`<prefix>-after-count`).
 */
export function oldestFirstList<Row extends CreatedAtPosition>(
  prefix: string,
  table: string,
  columns: Columns<Row>,
  where: string,
): (query: { after: unknown; count: boolean }) => Statement {
  const statements = new Map<string, Statement>();
  for (const after of [false, true]) {
    for (const count of [false, true]) {
      const page = `SELECT ${selectList(columns)} FROM ${table} WHERE ${where}${after ? ' AND (created_at, id) > ($3, $4)' : ''} ORDER BY created_at, id LIMIT $2`;
      const sql = count ? withTotal(`SELECT count(*)::int AS total FROM ${table} WHERE ${where}`, page, 'p."createdAt", p.id') : page;
      statements.set(`${after}${count}`, statement(`${prefix}${after ? '-after' : ''}${count ? '-count' : ''}`, sql));
    }
  }
  return (query) => statements.get(`${!!query.after}${query.count}`)!;
}
