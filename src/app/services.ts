import type { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import type { Queue } from '../queue/queue';
import type { Logger } from '../observability/logger';
import { NotificationListener } from '../db/notification-listener';
import { AuthService } from '../auth/auth.service';
import { KeyCache } from '../auth/key-cache';
import { OrganizationPurge, OrganizationService } from '../auth/organization.service';
import { ApiKeyRateLimiter } from '../limits/rate-limit';
import { TeammateService } from '../teammates/teammate.service';
import { TeammateAdmin } from '../teammates/teammate.admin';
import { ConversationService } from '../teammates/conversation.service';
import { WorkflowService } from '../workflows/workflow.service';
import { WorkflowAdmin } from '../workflows/workflow.admin';
import { RunAnnouncer, RunEvents } from '../workflows/run-events';
import { RunWaiter } from '../workflows/run-waiter';
import { RunEventLog } from '../workflows/run-event-log';
import type { StorageDriver } from '../storage/backend/driver';
import { createStorage, Storage } from '../storage/storage';
import { fetchStorageNode } from '../storage/storage.resolver';
import type { NodeFetcher } from '../graphql/node';
import type { Principal } from '../graphql/context';
import { OrganizationScope } from './organization-scope';

/** Every service of the gateway, built once per process from the data source and config. */
export interface Services {
  config: Config;
  db: DataSource;
  auth: AuthService;
  queue: Queue;
  /** The process's LISTEN connection; started by the process (run.ts), shared by every feature that listens. */
  notifications: NotificationListener;
  /** Run status changes of every process, fanned out by run id; started by its first user (`start()` is idempotent). */
  runEvents: RunEvents;
  /** Holds `waitSeconds` requests until their run has finished, woken by `runEvents`; stopped by the gateway on close. */
  runWaiter: RunWaiter;
  /** Per-API-key request budget, spent by every keyed HTTP route (authenticateRequests) and subscription. */
  rateLimits: ApiKeyRateLimiter;
  workflows: WorkflowService;
  /** The runs' stored events (`WorkflowRun.events`, `workflowRunEvents`, `GET /runs/:id/events`). */
  /** Sends run changes to every process (NOTIFY after the commit, batched per tick). */
  runAnnouncer: RunAnnouncer;
  runEventLog: RunEventLog;
  teammates: TeammateService;
  /** Teammates' conversations (their turns are started by callTeammate). */
  conversations: ConversationService;
  storage: Storage;
  /** What `node(id)` asks, in order: each capability with global ids. */
  nodeFetchers: readonly NodeFetcher[];
  /** The caller's organization scope: what resolvers get as `ctx.org` (made by the edge on first use in a request). */
  forOrganization(principal: Principal): OrganizationScope;
  /**
   * Starts what listens: the LISTEN connection, then the caches it keeps true (API keys, folder
   * paths). Until then every service works, reading the database instead of a cache.
   */
  start(): Promise<void>;
  /** Stops what `start` started, in reverse order. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** Wraps the storage driver the config names (tests use it to count calls or inject faults). */
  wrapStorageDriver?: (driver: StorageDriver) => StorageDriver;
}

/**
 * The one composition root: `alloy serve`, `alloy worker`, every CLI command and the test fixtures
 * build their services here, and nowhere else is a service constructed.
 */
export function createServices(db: DataSource, config: Config, queue: Queue, logger?: Logger, options: ServiceOptions = {}): Services {
  const databaseUrl = (db.options as { url?: string }).url;
  if (!databaseUrl) throw new Error('the data source has no url');
  // Storage keeps the bytes a run was given until it ends: it asks the workflows (built next) which keys are in use.
  const storage = createStorage(db, config, queue, {
    wrapDriver: options.wrapStorageDriver,
    keepObjects: (keys) => workflows.objectKeysInUse(keys),
  });
  // Runs are handed files through storage.
  // One announcer per process, so that every run change of a tick goes out in one NOTIFY.
  const runAnnouncer = new RunAnnouncer(db);
  const workflows = new WorkflowService(db, runAnnouncer, storage.snapshots, {
    queue,
    retryDelaySeconds: config.callbackRetryDelaySeconds,
  });
  const keyCache = new KeyCache();
  const auth = new AuthService(db, keyCache);
  const notifications = new NotificationListener(databaseUrl, logger);
  const runEvents = new RunEvents(notifications, db);
  const services: Services = {
    config,
    db,
    queue,
    notifications,
    runEvents,
    runWaiter: new RunWaiter(runEvents, (organizationId, runId) => workflows.findRun(organizationId, runId)),
    auth,
    rateLimits: ApiKeyRateLimiter.create(config.rateLimit, db),
    workflows,
    runAnnouncer,
    runEventLog: new RunEventLog(db, runAnnouncer),
    teammates: new TeammateService(db, workflows),
    conversations: new ConversationService(db),
    storage,
    nodeFetchers: [fetchStorageNode],
    forOrganization: (principal) => new OrganizationScope(services, principal),
    async start() {
      await notifications.start();
      await keyCache.start(notifications);
      await storage.start(notifications);
    },
    async stop() {
      storage.stop();
      keyCache.stop();
      await notifications.stop();
    },
  };
  return services;
}

/**
 * What acts on any organization by an id alone (organizations and their keys, a workflow's update,
 * deletion and secret, a teammate's update and deletion). Only the admin CLI (src/cli/with-database.ts),
 * first start (run.ts, which makes the first organization) and the test fixtures make it: the
 * gateway and its resolvers get `Services`, where every capability is reached through an
 * organization scope.
 */
export interface Admin {
  organizations: OrganizationService;
  workflows: WorkflowAdmin;
  teammates: TeammateAdmin;
}

export function createAdmin(services: Services): Admin {
  const { db, auth, teammates, workflows, storage } = services;
  // An organization's rows go through their owners: storage first (versions point at files), runs
  // before teammates (which they point at), teammates before workflows (which go with the organization row).
  const purges: OrganizationPurge[] = [
    (tx, orgId) => storage.deleteOrganization(tx, orgId),
    (tx, orgId) => workflows.deleteOrganizationRuns(tx, orgId),
    (tx, orgId) => teammates.deleteOrganization(tx, orgId),
  ];
  return {
    organizations: new OrganizationService(db, (lookupId) => auth.forget(lookupId), purges),
    // Whether teammates still run a workflow is the teammates module's question (it owns their table).
    workflows: new WorkflowAdmin(db, (tx, workflowId) => teammates.runningWorkflow(tx, workflowId)),
    teammates: new TeammateAdmin(db),
  };
}
