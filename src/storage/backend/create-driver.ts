import { Storage } from '@google-cloud/storage';
import type { Config } from '../../config/config';
import { DiskDriver } from './disk';
import type { StorageDriver } from './driver';
import { GcsDriver } from './gcs';

export function createStorageDriver(config: Config): StorageDriver {
  if (config.storageDriver === 'gcs') {
    if (!config.gcsBucket) throw new Error('GCS_BUCKET is required with STORAGE_DRIVER=gcs');
    // The client reads STORAGE_EMULATOR_HOST and Application Default Credentials itself.
    return new GcsDriver(new Storage(), config.gcsBucket);
  }
  return new DiskDriver(config.storageDir);
}
