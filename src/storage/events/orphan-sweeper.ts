import type { DataSource } from 'typeorm';
import type { StorageDriver } from '../backend/driver';

const BATCH = 100;

/**
 * Reclaims objects of uploads that never committed (crash, lost connection) and are older than
 * `olderThanMs`. Each pending row stays locked until its object is gone, so a late commit of the
 * same upload fails (it must claim the row) instead of pointing at a deleted object.
 */
export async function sweepOrphans(db: DataSource, driver: StorageDriver, olderThanMs: number): Promise<number> {
  let swept = 0;
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      // UPDATE/DELETE answer [rows, rowCount] through TypeORM.
      const [rows]: [Array<{ object_key: string }>] = await tx.query(
        `DELETE FROM storage_pending_objects WHERE object_key IN (
           SELECT object_key FROM storage_pending_objects
            WHERE created_at <= now() - ($1::float8 * interval '1 millisecond')
            ORDER BY created_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED
         ) RETURNING object_key`,
        [olderThanMs],
      );
      for (const { object_key } of rows) await driver.delete(object_key);
      return rows.length;
    });
    swept += batch;
    if (batch < BATCH) return swept;
  }
}
