/**
 * Baseline (a): the simplest server that answers the listing: plain node:http + pg, the folder's
 * id and path fixed at start (FOLDER_ID, FOLDER_PATH; no path resolution at all, no key check),
 * and one prepared statement per request for the page and the folder's count
 * (`count(*) OVER ()` counts the folder's rows before LIMIT takes the page).
 */
import http from 'node:http';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

const PAGE = 50;
const LISTING = {
  name: 'baseline-folder-listing',
  text: `SELECT id, name, kind, size, content_type, updated_at, count(*) OVER () AS total
           FROM storage_entries WHERE parent_id = $1
          ORDER BY kind = 'file', name COLLATE "C" LIMIT ${PAGE}`,
};

async function main() {
  const db = pool();
  const missing = await missingTables(db, ['storage_entries']);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found`);
  const folderId = process.env.FOLDER_ID!;
  const folderPath = process.env.FOLDER_PATH!;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { path?: string } };
      if (body.variables?.path !== folderPath) return json(res, 200, { data: { folder: null } });
      const { rows } = await db.query({ ...LISTING, values: [folderId] });
      json(res, 200, {
        data: {
          folder: {
            children: {
              totalCount: Number(rows[0]?.total ?? 0),
              edges: rows.map((r) => ({
                node: {
                  id: r.id,
                  name: r.name,
                  path: `${folderPath}/${r.name}`,
                  ...(r.kind === 'file'
                    ? { size: Number(r.size), contentType: r.content_type, updatedAt: r.updated_at.toISOString() }
                    : {}),
                },
              })),
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
