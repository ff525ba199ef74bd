import { createScratchDatabase, ScratchDatabase, withClient } from '../../src/db/scratch-database';

export { withClient };

/** The local PostgreSQL every machine of the project has (trust auth). */
export const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type BenchDatabase = ScratchDatabase;

/** A fresh, empty database; the gateway applies the migrations on start. */
export const createBenchDatabase = (): Promise<BenchDatabase> => createScratchDatabase(ADMIN_URL, 'alloy_bench');

export async function postgresVersion(): Promise<string> {
  return withClient(ADMIN_URL, async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version);
}

export async function tablesExist(url: string, tables: string[]): Promise<string[]> {
  const rows = await withClient(
    url,
    async (c) =>
      (
        await c.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
          [tables],
        )
      ).rows,
  );
  const present = new Set(rows.map((r) => r.table_name));
  return tables.filter((t) => !present.has(t));
}
