/**
 * Baseline (a): plain node:http + pg answering the folder listing as JSON with the same SQL the
 * gateway runs (FOLDER_LISTING: the folder by path, then its page and count at once). The
 * organization is fixed at start (ORG_ID), so this baseline does no key check at all.
 */
import http from 'node:http';
import { FOLDER_LISTING, STORAGE_TABLES } from '../seed/tables';
import { json, listen, missingTables, pool, readBody, unavailable } from './common';

const PAGE = 50;

async function main() {
  const db = pool();
  const missing = await missingTables(db, STORAGE_TABLES);
  if (missing.length) unavailable(`tables ${missing.join(', ')} not found (adapt bench/seed/tables.ts)`);
  const orgId = process.env.ORG_ID!;
  const server = http.createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { variables?: { path?: string } };
      const segments = (body.variables?.path ?? '/').split('/').filter(Boolean);
      const folderPath = `/${segments.join('/')}`;
      const { rows: folders } = await db.query(FOLDER_LISTING.folder, [orgId, segments]);
      const folder = folders[0];
      if (!folder || folder.kind !== 'folder') return json(res, 200, { data: { folder: null } });
      const [page, count] = await Promise.all([
        db.query(FOLDER_LISTING.page, [folder.id, orgId, PAGE + 1]),
        db.query(FOLDER_LISTING.count, [folder.id, orgId]),
      ]);
      const prefix = folderPath === '/' ? '' : folderPath;
      json(res, 200, {
        data: {
          folder: {
            children: {
              edges: page.rows.slice(0, PAGE).map((r) => ({
                node: { id: r.id, name: r.name, path: `${prefix}/${r.name}`, ...(r.kind === 'file' ? { size: r.size } : {}) },
              })),
              totalCount: count.rows[0].n,
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
