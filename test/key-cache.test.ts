import { Client } from 'pg';
import { errorCode, graphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { poll } from './support/poll';
import { runCliJson } from './support/process';

const ORG_QUERY = '{ organization { id name } }';

/**
 * The gateway caches key rows per process (src/auth/key-cache.ts). These tests change keys from
 * outside the gateway's process (the admin CLI, another database connection). The change reaches
 * the gateway by NOTIFY, which Postgres delivers right after the commit but asynchronously: a
 * request racing the notification may still see the old row for the notification's latency
 * (milliseconds). So each test polls, and fails if the change has not arrived within a second.
 */
const NOTIFY_BOUND_MS = 1000;

/** Sends `request` until `done` holds of its answer, for at most NOTIFY_BOUND_MS; the last answer either way. */
const eventually = <T>(request: () => Promise<T>, done: (value: T) => boolean) =>
  poll(request, done, { timeoutMs: NOTIFY_BOUND_MS, intervalMs: 5 });

describe('API key cache', () => {
  let lookups = 0;
  let sql: Client;
  const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Cached', beforeClose: () => sql?.end() });

  beforeAll(async () => {
    // Count the gateway's key lookups through the data source's query log, which every statement
    // goes through (the call still goes to the database).
    const logger = gw.db.logger;
    const logQuery = logger.logQuery.bind(logger);
    logger.logQuery = (text, parameters, queryRunner) => {
      if (/FROM api_keys k JOIN organizations/.test(text)) lookups++;
      return logQuery(text, parameters, queryRunner);
    };
    sql = new Client({ connectionString: gw.database.url });
    await sql.connect();
  });

  const cli = async (...args: string[]) => (await runCliJson(args, { DATABASE_URL: gw.database.url, LOG_LEVEL: 'silent' })).json;

  it('answers repeated requests of a key without reading the key again', async () => {
    const key = await gw.admin.organizations.createKey(org.orgId, 'repeat');
    const before = lookups;
    for (let i = 0; i < 5; i++) expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    expect(lookups - before).toBe(1);
  });

  it('refuses a key right after `alloy key revoke` in another process', async () => {
    const key = await gw.admin.organizations.createKey(org.orgId, 'revoked elsewhere');
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    const revoked = await cli('key', 'revoke', key.keyId);
    expect(revoked.keyId).toBe(key.keyId);
    const { value: res } = await eventually(
      () => graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey }),
      (r) => r.status !== 200,
    );
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0].message).toMatch(/revoked/);
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);
  });

  it('refuses a key right after its row is deleted by hand', async () => {
    const key = await gw.admin.organizations.createKey(org.orgId, 'deleted');
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    await sql.query('DELETE FROM api_keys WHERE id = $1', [key.keyId]);
    const { value: res } = await eventually(
      () => graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey }),
      (r) => r.status !== 200,
    );
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
  });

  it('answers the new name right after the organization is renamed elsewhere', async () => {
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).body.data.organization.name).toBe('Cached');
    await sql.query('UPDATE organizations SET name = $1 WHERE id = $2', ['Renamed', org.orgId]);
    const { value } = await eventually(
      () => graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey }),
      (r) => r.body.data?.organization.name === 'Renamed',
    );
    expect(value.body.data.organization.name).toBe('Renamed');
  });

  it('reads keys from the database while its change feed is down, and caches again once it is back', async () => {
    const key = await gw.admin.organizations.createKey(org.orgId, 'feed down');
    expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey })).status).toBe(200);
    const killed = await sql.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-notifications'`,
    );
    expect(killed.rowCount).toBe(1);
    // With no LISTEN connection no notification arrives; the revoke must still be seen.
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [key.keyId]);
    const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: key.apiKey });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0].message).toMatch(/revoked/);
    // The cache reconnects by itself (about a second) and then serves keys from memory again.
    const { value: listening } = await poll(
      async () =>
        (
          await sql.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-notifications' AND query ILIKE 'LISTEN%'`,
          )
        ).rows[0].n as number,
      (n) => n !== 0,
      { timeoutMs: 10_000 },
    );
    expect(listening).toBe(1);
    await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey });
    const before = lookups;
    for (let i = 0; i < 3; i++) expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);
    expect(lookups).toBe(before);
  });
});
