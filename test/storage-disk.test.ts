import fs from 'node:fs';
import { startTestGateway } from './support/gateway';
import { CountingDriver, filesUnder, tempDir } from './support/storage';
import { storageContract } from './storage/contract';

storageContract('disk', async () => {
  const dir = tempDir('alloy-objects-');
  let driver!: CountingDriver;
  const gw = await startTestGateway({
    env: { STORAGE_DRIVER: 'disk', STORAGE_DIR: dir },
    wrapStorageDriver: (inner) => (driver = new CountingDriver(inner)),
  });
  return {
    gw,
    driver,
    objectKeys: async () => filesUnder(dir),
    async close() {
      await gw.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
