import type { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import type { Queue } from '../queue/queue';
import { AuthService } from '../auth/auth.service';
import { OrganizationService } from '../auth/organization.service';

/** Every service of the gateway, built once per process from the data source and config. */
export interface Services {
  config: Config;
  db: DataSource;
  auth: AuthService;
  organizations: OrganizationService;
  queue: Queue;
}

export function createServices(db: DataSource, config: Config, queue: Queue): Services {
  const auth = new AuthService(db);
  return {
    config,
    db,
    queue,
    auth,
    organizations: new OrganizationService(db, (lookupId) => auth.forget(lookupId)),
  };
}
