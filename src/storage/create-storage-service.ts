import type { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import type { Queue } from '../queue/queue';
import { createStorageDriver } from './backend/create-driver';
import { StorageService } from './storage.service';
import { UrlSigner } from './url-signer';

export { StorageService };

export function createStorageService(db: DataSource, config: Config, queue: Queue): StorageService {
  const service = new StorageService(db, queue, createStorageDriver(config), new UrlSigner(db, config.urlSigningSecret), config.maxUploadBytes);
  service.deletionDelaySeconds = config.storageDeletionDelaySeconds;
  return service;
}
