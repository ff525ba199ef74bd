import type { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import type { Queue } from '../queue/queue';
import type { Logger } from '../observability/logger';
import { NotificationListener } from '../db/notification-listener';
import { AuthService } from '../auth/auth.service';
import { OrganizationService } from '../auth/organization.service';
import { ApiKeyRateLimiter } from '../limits/rate-limit';
import { TeammateService } from '../teammates/teammate.service';
import { WorkflowService } from '../workflows/workflow.service';
import { createStorageService, StorageService } from '../storage/create-storage-service';

/** Every service of the gateway, built once per process from the data source and config. */
export interface Services {
  config: Config;
  db: DataSource;
  auth: AuthService;
  organizations: OrganizationService;
  queue: Queue;
  /** The process's LISTEN connection; started by the process (run.ts), shared by every feature that listens. */
  notifications: NotificationListener;
  /** Per-API-key request budget; `/graphql` spends from it, and so should other keyed routes. */
  rateLimits: ApiKeyRateLimiter;
  workflows: WorkflowService;
  teammates: TeammateService;
  storage: StorageService;
}

export function createServices(db: DataSource, config: Config, queue: Queue, logger?: Logger): Services {
  const databaseUrl = (db.options as { url?: string }).url;
  if (!databaseUrl) throw new Error('the data source has no url');
  const workflows = new WorkflowService(db, queue);
  const auth = new AuthService(db);
  return {
    config,
    db,
    queue,
    notifications: new NotificationListener(databaseUrl, logger),
    auth,
    organizations: new OrganizationService(db, (lookupId) => auth.forget(lookupId)),
    rateLimits: ApiKeyRateLimiter.create(config.rateLimit, db),
    workflows,
    teammates: new TeammateService(db, workflows),
    storage: createStorageService(db, config, queue),
  };
}
