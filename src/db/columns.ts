/*
 * How rows come out of the database: each table read as rows has one `Columns` list, beside its
 * row type, naming the camelCase field each column is read into. Statements select the list, or
 * the part of it they need (`pick`, `omit`), with `selectList`, which writes `column AS "field"`:
 * rows then come back as their type, and no code renames their fields by hand.
 */

/**
 * How one column is read: its name, or SQL written from `t` (the table's alias and a dot, or ''
 * when the statement names no alias) for a cast or a conversion the driver's own would not give.
 */
export type Column = string | ((t: string) => string);

/** A table's columns, by the field of its row type each is read into (every field has one). */
export type Columns<Row> = { readonly [F in keyof Row]-?: Column };

/** The columns of these fields only. */
export function pick<Row, F extends keyof Row & string>(columns: Columns<Row>, ...fields: F[]): Columns<Pick<Row, F>> {
  return Object.fromEntries(fields.map((field) => [field, columns[field]])) as unknown as Columns<Pick<Row, F>>;
}

/** The columns of every field but these. */
export function omit<Row, F extends keyof Row & string>(columns: Columns<Row>, ...fields: F[]): Columns<Omit<Row, F>> {
  const left = new Set<string>(fields);
  return Object.fromEntries(Object.entries(columns).filter(([field]) => !left.has(field))) as Columns<Omit<Row, F>>;
}

export interface SelectOptions {
  /** The table's alias in the statement: columns of the tables it joins may share a name. */
  from?: string;
  /** Put before each field's name, camelCase (`organization`: `name` is read as `organizationName`), for a joined table's fields. */
  prefix?: string;
}

/** The select list of `columns`: `column AS "field"`, in the list's order. */
export function selectList<Row>(columns: Columns<Row>, { from, prefix }: SelectOptions = {}): string {
  const t = from ? `${from}.` : '';
  const named = (field: string) => (prefix ? `${prefix}${field[0].toUpperCase()}${field.slice(1)}` : field);
  return (Object.entries(columns) as Array<[string, Column]>)
    .map(([field, column]) => `${typeof column === 'string' ? t + column : column(t)} AS "${named(field)}"`)
    .join(', ');
}

/**
 * A timestamp column read as epoch milliseconds, which the row's mapper makes a Date: parsing
 * Postgres's timestamp text cost a twentieth of a folder listing's CPU time.
 */
export const epochMs =
  (column: string): Column =>
  (t) =>
    `(extract(epoch FROM ${t}${column}) * 1000)::float8`;

/** A bigint column read as a number (the driver reads bigint as text). */
export const float8 =
  (column: string): Column =>
  (t) =>
    `${t}${column}::float8`;
