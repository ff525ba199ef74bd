import { Admin, createAdmin, createServices, ServiceOptions, Services } from '../../src/app/services';
import { BackgroundOptions, BackgroundTask, startBackgroundWork } from '../../src/app/background';
import { gatewaySchema } from '../../src/app/schema';
import { loadConfig, Config } from '../../src/config/config';
import { startGateway, Gateway } from '../../src/http/gateway';
import { createLogger } from '../../src/observability/logger';
import { startQueue } from '../../src/queue/queue';
import { createTestDatabase, TestDatabase } from './database';
import { waitFor } from './poll';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { DestinationStream } from 'pino';

/** An organization and its first key, as `createOrg` makes them. */
export interface TestOrg {
  orgId: string;
  apiKey: string;
  keyId: string;
}

export interface TestGateway {
  url: string;
  config: Config;
  services: Services;
  /** The CLI's cross-organization operations (organizations and keys, workflow and teammate changes by id). */
  admin: Admin;
  db: DataSource;
  database: TestDatabase;
  gateway: Gateway;
  /** A new organization with its first key. */
  createOrg(name?: string): Promise<TestOrg>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  background?: Partial<BackgroundOptions> | false;
  /** Where the gateway's JSON log lines go; with it, LOG_LEVEL defaults to info instead of silent. */
  logDestination?: DestinationStream;
  /** Wraps the storage driver (to count its calls or make it fail). */
  wrapStorageDriver?: ServiceOptions['wrapStorageDriver'];
}

/**
 * The real gateway, in this process, on a free port of 127.0.0.1, on a fresh database of the
 * shared Postgres. Tests talk to it over HTTP.
 */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const database = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: options.logDestination ? 'info' : 'silent',
    // Tests send many requests with one key; the rate limit tests turn it on.
    RATE_LIMIT_PER_MINUTE: '0',
    ...options.env,
    DATABASE_URL: database.url,
  });
  const logger = createLogger(config.logLevel, options.logDestination);
  const queue = await startQueue(database.url, logger);
  const services = createServices(database.dataSource, config, queue, logger, { wrapStorageDriver: options.wrapStorageDriver });
  await services.start();
  const tasks: BackgroundTask[] =
    options.background === false ? [] : await startBackgroundWork(services, logger, { workflows: true, ...options.background });
  const gateway = await startGateway({ schema: await gatewaySchema(), services, logger, port: 0, host: '127.0.0.1' });
  const admin = createAdmin(services);
  return {
    url: gateway.url,
    config,
    services,
    admin,
    db: database.dataSource,
    database,
    gateway,
    createOrg: (name = `org-${Math.random().toString(36).slice(2, 8)}`) => admin.organizations.createOrganization(name),
    async close() {
      await gateway.close();
      for (const task of tasks.reverse()) await task.stop();
      await queue.stop({ graceful: false, wait: true, timeout: 5000 });
      await services.stop();
      await database.drop();
    },
  };
}

export interface GatewayFixtureOptions extends TestGatewayOptions {
  /** Name of the organization made with the gateway; a random one by default. */
  orgName?: string;
  /** A fresh temporary STORAGE_DIR (then `gw.config.storageDir`), deleted after the gateway is closed. */
  storageDir?: boolean;
  /** Runs first when the suite ends, while the gateway and its database are still there: stop what the test started on them. */
  beforeClose?: () => unknown;
}

/**
 * A started gateway and an organization for the tests of the surrounding describe block (or file):
 * started by a beforeAll and closed by an afterAll that this registers. The two objects are filled
 * in by that beforeAll, so they can be destructured at once and read in tests and later hooks:
 * `const { gw, org } = useGatewayWithOrg({ background: false, orgName: 'Acme' });`
 */
export function useGatewayWithOrg(options: GatewayFixtureOptions = {}): { gw: TestGateway; org: TestOrg } {
  const { orgName, storageDir: wantsStorageDir, beforeClose, ...gatewayOptions } = options;
  const gw = {} as TestGateway;
  const org = {} as TestOrg;
  let storageDir: string | undefined;
  beforeAll(async () => {
    if (wantsStorageDir) storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-objects-'));
    const env = { ...(storageDir ? { STORAGE_DIR: storageDir } : {}), ...gatewayOptions.env };
    Object.assign(gw, await startTestGateway({ ...gatewayOptions, env }));
    Object.assign(org, await gw.createOrg(orgName));
  });
  afterAll(async () => {
    try {
      await beforeClose?.();
    } finally {
      // Not there when the start failed.
      await gw.close?.();
      if (storageDir) fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });
  return { gw, org };
}

/**
 * Ends the gateway's LISTEN connection from the database side, as an outage would, and waits until
 * the gateway has noticed (it reconnects on its own about a second later).
 */
export async function dropListenConnection(gw: TestGateway): Promise<void> {
  await gw.db.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-notifications'`,
  );
  await waitFor(
    async () => gw.services.notifications.isListening,
    (listening) => !listening,
    10_000,
    'the LISTEN connection to drop',
  );
}
