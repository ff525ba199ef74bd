/**
 * Baseline (b): the simplest server that answers `{ organization { id } }` for a key: plain
 * node:http + pg, one prepared statement per request that reads the key's row and its
 * organization by the key's lookup id (no cache: a revoked key fails on the next request), and
 * the key format's own parse and constant-time secret comparison (src/auth/api-key.ts, the
 * format's definition rather than the gateway's request path).
 */
import http from 'node:http';
import { parseApiKey, secretMatches } from '../../src/auth/api-key';
import { json, listen, pool, readBody } from './common';

const db = pool();
const LOOKUP = {
  name: 'baseline-key-lookup',
  text: `SELECT k.secret_hash, k.revoked_at, o.id AS org_id
           FROM api_keys k JOIN organizations o ON o.id = k.organization_id
          WHERE k.lookup_id = $1`,
};

const unauthenticated = { errors: [{ message: 'Invalid API key', extensions: { code: 'UNAUTHENTICATED' } }] };

const server = http.createServer(async (req, res) => {
  try {
    const body = JSON.parse(await readBody(req)) as { query?: string };
    if (typeof body.query !== 'string') return json(res, 400, { errors: [{ message: 'query missing' }] });
    const header = req.headers['api-key'];
    const parsed = typeof header === 'string' ? parseApiKey(header) : null;
    if (!parsed) return json(res, 401, unauthenticated);
    const { rows } = await db.query({ ...LOOKUP, values: [parsed.lookupId] });
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_hash) || row.revoked_at) return json(res, 401, unauthenticated);
    json(res, 200, { data: { organization: { id: row.org_id } } });
  } catch (error) {
    json(res, 500, { errors: [{ message: String(error) }] });
  }
});
listen(server);
