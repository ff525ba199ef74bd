import type { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import type { Queue } from '../queue/queue';
import type { Logger } from '../observability/logger';
import { NotificationListener } from '../db/notification-listener';
import { AuthService } from '../auth/auth.service';
import { OrganizationService } from '../auth/organization.service';
import { ApiKeyRateLimiter } from '../limits/rate-limit';
import { TeammateService } from '../teammates/teammate.service';
import { ConversationService } from '../teammates/conversation.service';
import { WorkflowService } from '../workflows/workflow.service';
import { RunEvents } from '../workflows/run-events';
import { RunWaiter } from '../workflows/run-waiter';
import { RunEventLog } from '../workflows/run-event-log';
import type { StorageDriver } from '../storage/backend/driver';
import { createStorage, Storage } from '../storage/storage';

/** Every service of the gateway, built once per process from the data source and config. */
export interface Services {
  config: Config;
  db: DataSource;
  auth: AuthService;
  organizations: OrganizationService;
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
  runEventLog: RunEventLog;
  teammates: TeammateService;
  /** Teammates' conversations (their turns are started by callTeammate). */
  conversations: ConversationService;
  storage: Storage;
}

export interface ServiceOptions {
  /** Wraps the storage driver the config names (tests use it to count calls or inject faults). */
  wrapStorageDriver?: (driver: StorageDriver) => StorageDriver;
}

export function createServices(db: DataSource, config: Config, queue: Queue, logger?: Logger, options: ServiceOptions = {}): Services {
  const databaseUrl = (db.options as { url?: string }).url;
  if (!databaseUrl) throw new Error('the data source has no url');
  const storage = createStorage(db, config, queue, options.wrapStorageDriver);
  // Runs are handed files through storage, and storage keeps the bytes a run was given until it ends.
  const workflows = new WorkflowService(db, storage.snapshots, { queue, retryDelaySeconds: config.callbackRetryDelaySeconds });
  storage.keepObjects = (keys) => workflows.objectKeysInUse(keys);
  const auth = new AuthService(db);
  const notifications = new NotificationListener(databaseUrl, logger);
  const runEvents = new RunEvents(notifications, db);
  return {
    config,
    db,
    queue,
    notifications,
    runEvents,
    runWaiter: new RunWaiter(runEvents, (organizationId, runId) => workflows.findRun(organizationId, runId)),
    auth,
    organizations: new OrganizationService(db, (lookupId) => auth.forget(lookupId)),
    rateLimits: ApiKeyRateLimiter.create(config.rateLimit, db),
    workflows,
    runEventLog: new RunEventLog(db),
    teammates: new TeammateService(db, workflows),
    conversations: new ConversationService(db),
    storage,
  };
}
