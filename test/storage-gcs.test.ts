import fs from 'node:fs';
import { GcsDriver } from '../src/storage/backend/gcs';
import { startGcsEmulator } from './support/gcs-emulator';
import { startTestGateway } from './support/gateway';
import { CountingDriver, tempDir, writeFakeServiceAccount } from './support/storage';
import { storageContract } from './storage/contract';

storageContract('gcs', async () => {
  const emulator = await startGcsEmulator();
  const dir = tempDir('alloy-gcs-');
  // Application Default Credentials, as in production; the key only signs URLs locally.
  const previous = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GOOGLE_APPLICATION_CREDENTIALS = writeFakeServiceAccount(dir);
  let driver!: CountingDriver;
  const gw = await startTestGateway({
    env: { STORAGE_DRIVER: 'gcs', GCS_BUCKET: 'alloy-test-bucket' },
    wrapStorageDriver: (inner) => (driver = new CountingDriver(inner)),
  });
  const gcs = driver.inner as GcsDriver;
  expect(gcs).toBeInstanceOf(GcsDriver);
  return {
    gw,
    driver,
    async objectKeys() {
      const [files] = await gcs.bucket.getFiles();
      return files.map((f) => f.name);
    },
    async close() {
      await gw.close();
      await emulator.stop();
      if (previous === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = previous;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
