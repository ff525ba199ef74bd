import { Client } from 'pg';
import { migrations } from '../src/db/migrations';
import { createEmptyDatabase, TestDatabase } from './support/database';
import { useGatewayWithOrg } from './support/gateway';
import { errorCode, graphql } from './support/http';
import { runCli, runCliJson, singleJsonObject } from './support/process';

const ORG_QUERY = '{ organization { id name } }';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const API_KEY = /^alloy_sk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

/** Runs `alloy <args> --json` against `databaseUrl`, asserting stdout holds exactly one JSON object. */
const alloyJson = (databaseUrl: string, ...args: string[]) => runCliJson(args, { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' });

describe('alloy CLI with --json', () => {
  describe('usage errors', () => {
    it.each([
      ['a missing argument', ['org', 'create'], /Missing required argument 'name'/],
      ['a missing required option', ['key', 'create'], /Required option '--org <orgId>' not specified/],
      ['an unknown command', ['frobnicate'], /Unknown command 'frobnicate'/],
      ['an unknown subcommand', ['org', 'explode'], /Unknown command 'explode'|Unknown option '--json'/],
      ['an unknown option', ['org', 'create', 'Acme', '--colour', 'red'], /Unknown option '--colour'/],
      ['too many arguments', ['key', 'revoke', 'a', 'b'], /Too many arguments/],
      ['an option without its value', ['key', 'list', '--json', '--org'], /Option '--org <orgId>' argument missing/],
    ])('%s prints one {error:{code,message}} object on stdout and exits 1', async (_label, args, message) => {
      const argv = args.includes('--json') ? args : [...args, '--json'];
      const result = await runCli(argv, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/never-used' });
      expect(result.code).toBe(1);
      expect(singleJsonObject(result.stdout)).toEqual({ error: { code: 'USAGE_ERROR', message: expect.stringMatching(message) } });
      expect(result.stderr).toBe('');
    });

    it('without --json, a usage error goes to stderr with the help, and nothing to stdout', async () => {
      const result = await runCli(['org', 'create'], {});
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^error: missing required argument 'name'/);
      expect(result.stderr).toMatch(/Usage: alloy org create/);
    });

    it('--help with --json is one JSON object too, exit 0', async () => {
      const result = await runCli(['workflow', 'create', '--help', '--json'], {});
      expect(result.code).toBe(0);
      expect(singleJsonObject(result.stdout)).toEqual({ help: expect.stringMatching(/^Usage: alloy workflow create/) });
    });
  });

  describe('migrate', () => {
    let empty: TestDatabase;
    beforeAll(async () => {
      empty = await createEmptyDatabase();
    });
    afterAll(() => empty.drop());

    it('applies every migration on an empty database, then nothing', async () => {
      const first = await alloyJson(empty.url, 'migrate');
      expect(first.code).toBe(0);
      expect(first.json).toEqual({ applied: expect.any(Array) });
      expect(first.json.applied).toHaveLength(migrations.length);

      const client = new Client({ connectionString: empty.url });
      await client.connect();
      try {
        const tables = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
        expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['organizations', 'api_keys']));
      } finally {
        await client.end();
      }

      const second = await alloyJson(empty.url, 'migrate');
      expect(second.code).toBe(0);
      expect(second.json).toEqual({ applied: [] });
    });
  });

  describe('organizations and keys', () => {
    const { gw } = useGatewayWithOrg({ background: false });
    let url: string;
    let org: { orgId: string; apiKey: string; keyId: string };

    beforeAll(async () => {
      url = gw.database.url;
      const created = await alloyJson(url, 'org', 'create', 'Cli Org');
      expect(created.code).toBe(0);
      org = created.json;
    });

    it('org create prints {orgId, apiKey, keyId}, and the key works over HTTP', async () => {
      expect(org).toEqual({
        orgId: expect.stringMatching(UUID),
        apiKey: expect.stringMatching(API_KEY),
        keyId: expect.stringMatching(UUID),
      });
      const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: { organization: { id: org.orgId, name: 'Cli Org' } } });
    });

    it('key create prints {keyId, apiKey} for a second working key', async () => {
      const created = await alloyJson(url, 'key', 'create', '--org', org.orgId, '--name', 'ci');
      expect(created.code).toBe(0);
      expect(created.json).toEqual({ keyId: expect.stringMatching(UUID), apiKey: expect.stringMatching(API_KEY) });
      expect(created.json.apiKey).not.toBe(org.apiKey);
      const res = await graphql(gw.url, ORG_QUERY, {}, { apiKey: created.json.apiKey });
      expect(res.body.data?.organization.id).toBe(org.orgId);
    });

    it('key list shows every key of the organization without any secret', async () => {
      const extra = await alloyJson(url, 'key', 'create', '--org', org.orgId, '--name', 'listed');
      const listed = await runCli(['key', 'list', '--org', org.orgId, '--json'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
      expect(listed.code).toBe(0);
      const { keys } = singleJsonObject(listed.stdout);
      const ids = keys.map((k: { keyId: string }) => k.keyId);
      expect(ids).toEqual(expect.arrayContaining([org.keyId, extra.json.keyId]));
      for (const key of keys) {
        expect(key).toEqual({
          keyId: expect.stringMatching(UUID),
          name: key.name,
          prefix: expect.stringMatching(/^alloy_sk_[0-9a-f]{16}_/),
          createdAt: expect.any(String),
          lastUsedAt: key.lastUsedAt,
          revokedAt: key.revokedAt,
        });
      }
      expect(keys.find((k: { keyId: string }) => k.keyId === extra.json.keyId).name).toBe('listed');
      for (const apiKey of [org.apiKey, extra.json.apiKey]) {
        const secret = apiKey.slice(-43); // alloy_sk_<lookup>_<43-character secret>
        expect(listed.stdout).not.toContain(apiKey);
        expect(listed.stdout).not.toContain(secret);
      }
    });

    it('key list of another organization does not show these keys', async () => {
      const other = await alloyJson(url, 'org', 'create', 'Other Org');
      const listed = await alloyJson(url, 'key', 'list', '--org', other.json.orgId);
      expect(listed.json.keys.map((k: { keyId: string }) => k.keyId)).toEqual([other.json.keyId]);
    });

    it('key revoke stops the key at once over HTTP and leaves the other keys working', async () => {
      const doomed = await alloyJson(url, 'key', 'create', '--org', org.orgId);
      expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: doomed.json.apiKey })).status).toBe(200);

      const revoked = await alloyJson(url, 'key', 'revoke', doomed.json.keyId);
      expect(revoked.code).toBe(0);
      expect(revoked.json).toEqual({ keyId: doomed.json.keyId, revokedAt: expect.any(String) });
      expect(Number.isNaN(Date.parse(revoked.json.revokedAt))).toBe(false);

      const refused = await graphql(gw.url, ORG_QUERY, {}, { apiKey: doomed.json.apiKey });
      expect(refused.status).toBe(401);
      expect(errorCode(refused)).toBe('UNAUTHENTICATED');
      expect((await graphql(gw.url, ORG_QUERY, {}, { apiKey: org.apiKey })).status).toBe(200);

      const listed = await alloyJson(url, 'key', 'list', '--org', org.orgId);
      const entry = listed.json.keys.find((k: { keyId: string }) => k.keyId === doomed.json.keyId);
      expect(entry.revokedAt).toBe(revoked.json.revokedAt);
    });

    it.each([
      ['key create for an unknown organization', ['key', 'create', '--org', '00000000-0000-4000-8000-000000000000'], 'NOT_FOUND'],
      ['key create for a non-UUID organization id', ['key', 'create', '--org', 'acme'], 'NOT_FOUND'],
      ['key list for an unknown organization', ['key', 'list', '--org', '00000000-0000-4000-8000-000000000000'], 'NOT_FOUND'],
      ['key revoke of an unknown key id', ['key', 'revoke', '00000000-0000-4000-8000-000000000000'], 'NOT_FOUND'],
      ['key revoke of a non-UUID key id', ['key', 'revoke', 'not-a-uuid'], 'NOT_FOUND'],
      ['org create with a blank name', ['org', 'create', '   '], 'BAD_USER_INPUT'],
    ])('%s answers one {error:{code,message}} object and exit code 1', async (_label, args, code) => {
      const before = await gw.db.query(
        `SELECT (SELECT count(*) FROM organizations)::int AS orgs, (SELECT count(*) FROM api_keys)::int AS keys`,
      );
      const result = await alloyJson(url, ...args);
      expect(result.code).toBe(1);
      expect(result.json).toEqual({ error: { code, message: expect.any(String) } });
      expect(result.json.error.message.length).toBeGreaterThan(0);
      const after = await gw.db.query(
        `SELECT (SELECT count(*) FROM organizations)::int AS orgs, (SELECT count(*) FROM api_keys)::int AS keys`,
      );
      expect(after).toEqual(before);
    });

    it('an internal failure says so without SQL or table names, and shows them only with NODE_ENV=development', async () => {
      await gw.db.query('ALTER TABLE api_keys RENAME TO api_keys_away');
      try {
        const masked = await runCli(['key', 'list', '--org', org.orgId, '--json'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
        expect(masked.code).toBe(1);
        expect(singleJsonObject(masked.stdout)).toEqual({
          error: { code: 'INTERNAL_ERROR', message: expect.stringContaining('NODE_ENV=development') },
        });
        expect(masked.stdout + masked.stderr).not.toMatch(/api_keys|relation|SELECT|\n\s+at /);
        const human = await runCli(['key', 'list', '--org', org.orgId], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
        expect(human.code).toBe(1);
        expect(human.stdout).toBe('');
        expect(human.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^alloy: Internal error/)]);
        const shown = await runCli(['key', 'list', '--org', org.orgId, '--json'], {
          DATABASE_URL: url,
          LOG_LEVEL: 'warn',
          NODE_ENV: 'development',
        });
        expect(singleJsonObject(shown.stdout).error.message).toMatch(/api_keys/);
      } finally {
        await gw.db.query('ALTER TABLE api_keys_away RENAME TO api_keys');
      }
    });

    it('a database it cannot reach answers one JSON error object too', async () => {
      const result = await alloyJson('postgres://postgres@127.0.0.1:1/nowhere', 'key', 'list', '--org', org.orgId);
      expect(result.code).toBe(1);
      expect(result.json).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
    });
  });
});
