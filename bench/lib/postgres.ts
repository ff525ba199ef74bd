import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The local PostgreSQL every machine of the project has (trust auth). */
export const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function urlFor(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database; the gateway applies the migrations on start. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `alloy_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: urlFor(name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export async function postgresVersion(): Promise<string> {
  return admin(async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version);
}

/** Runs `fn` with a client on the bench database (for seeding and checks). */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function tablesExist(url: string, tables: string[]): Promise<string[]> {
  const rows = await withClient(url, async (c) =>
    (await c.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
      [tables],
    )).rows,
  );
  const present = new Set(rows.map((r) => r.table_name));
  return tables.filter((t) => !present.has(t));
}
