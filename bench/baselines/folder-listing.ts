/**
 * Baseline (a): plain node:http + pg answering the folder listing as JSON with one query
 * (FOLDER_LISTING_SQL). The organization is fixed at start (ORG_ID), so this baseline does no
 * key check at all: the simplest server that lists a folder.
 */
import http from 'node:http';
import { FOLDER_LISTING_SQL, STORAGE_TABLES } from '../seed/after-merge';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

async function main() {
  const db = pool();
  const missing = await missingTables(db, STORAGE_TABLES);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found (adapt bench/seed/after-merge.ts)`);
  const orgId = process.env.ORG_ID!;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { path?: string } };
      const { rows } = await db.query(FOLDER_LISTING_SQL, [orgId, body.variables?.path ?? '/']);
      json(res, 200, {
        data: {
          folder: {
            children: {
              edges: rows.map((r) => ({ node: { id: r.id, name: r.name, path: r.path, ...(r.kind === 'FILE' || r.kind === 'file' ? { size: Number(r.size) } : {}) } })),
              totalCount: Number(rows[0]?.total ?? 0),
            },
          },
        },
      });
    } catch (error) {
      json(res, 500, { errors: [{ message: String(error) }] });
    }
  });
  listen(server);
}
main().catch((error) => unavailable(String(error)));
