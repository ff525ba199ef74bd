import { createScratchDatabase, ScratchDatabase } from '../../src/db/scratch-database';
import type { DataSource } from 'typeorm';
import { entities } from '../../src/app/entities';
import { openDatabase } from '../../src/db/data-source';

/** The shared PostgreSQL of every machine (trust auth); each test file gets a database of its own. */
export const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type TestDatabase = ScratchDatabase;

/** An empty database (no migrations applied). */
export const createEmptyDatabase = (): Promise<TestDatabase> => createScratchDatabase(ADMIN_URL, 'alloy_t');

/** A fresh database with every migration applied, and a DataSource on it. */
export async function createTestDatabase(): Promise<TestDatabase & { dataSource: DataSource }> {
  const db = await createEmptyDatabase();
  const { dataSource } = await openDatabase({ url: db.url, entities, poolSize: 10, applicationName: 'alloy-test' });
  return {
    ...db,
    dataSource,
    async drop() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}
