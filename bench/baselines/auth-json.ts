/**
 * Baseline (b): the smallest hand-written server that answers `{ organization { id } }` with a
 * key check: plain node:http + pg, the same lookup SQL as src/auth/auth.service.ts (one indexed
 * query by lookup id per request, no cache) and the same constant-time SHA-256 comparison.
 */
import http from 'node:http';
import { parseApiKey, secretMatches } from '../../src/auth/api-key';
import { json, listen, pool, readBody } from './common';

const db = pool();
const LOOKUP_SQL = `SELECT k.id AS key_id, k.secret_hash, k.revoked_at, o.id AS org_id, o.name AS org_name
   FROM api_keys k JOIN organizations o ON o.id = k.organization_id
  WHERE k.lookup_id = $1`;

const unauthenticated = { errors: [{ message: 'Invalid API key', extensions: { code: 'UNAUTHENTICATED' } }] };

const server = http.createServer(async (req, res) => {
  try {
    const body = JSON.parse(await readBody(req)) as { query?: string };
    if (typeof body.query !== 'string') return json(res, 400, { errors: [{ message: 'query missing' }] });
    const header = req.headers['api-key'];
    const parsed = typeof header === 'string' ? parseApiKey(header) : null;
    if (!parsed) return json(res, 401, unauthenticated);
    const { rows } = await db.query(LOOKUP_SQL, [parsed.lookupId]);
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_hash) || row.revoked_at) return json(res, 401, unauthenticated);
    json(res, 200, { data: { organization: { id: row.org_id } } });
  } catch (error) {
    json(res, 500, { errors: [{ message: String(error) }] });
  }
});
listen(server);
