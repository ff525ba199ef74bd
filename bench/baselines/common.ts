import http from 'node:http';
import { Pool } from 'pg';

/** Reads the whole request body (the baselines answer small JSON requests). */
export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Same pool size as the gateway's data source (10). */
export function pool(): Pool {
  return new Pool({ connectionString: process.env.DATABASE_URL, max: 10, application_name: 'alloy-bench-baseline' });
}

/** Prints the ready line the runner waits for. */
export function listen(server: http.Server): void {
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as import('node:net').AddressInfo;
    process.stdout.write(`listening http://127.0.0.1:${port}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

/** Tells the runner this baseline cannot run on this database (e.g. tables of an unmerged feature). */
export function unavailable(reason: string): never {
  process.stdout.write(`unavailable: ${reason}\n`);
  process.exit(0);
}

export async function missingTables(db: Pool, tables: string[]): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
    [tables],
  );
  return tables.filter((t) => !rows.some((r) => r.table_name === t));
}
