import type { StorageDriver } from '../backend/driver';
import type { EntryStore } from '../entry-store';

const BATCH = 100;

/**
 * Reclaims what uploads that never committed (crash, lost connection) left, older than
 * `olderThanMs`: objects named by a pending record, and the driver's partial writes of uploads
 * whose process died before their pending record was committed. Each pending record stays locked
 * until its object is gone, so a late commit of the same upload fails (it must claim the record)
 * instead of pointing at a deleted object. How many objects and partial writes it removed.
 */
export async function sweepOrphans(store: EntryStore, driver: StorageDriver, olderThanMs: number): Promise<number> {
  let swept = 0;
  for (;;) {
    const batch = await store.transaction(async (tx) => {
      const keys = await store.claimOrphans(tx, olderThanMs, BATCH);
      for (const key of keys) await driver.delete(key);
      return keys.length;
    });
    swept += batch;
    if (batch < BATCH) break;
  }
  return swept + (await driver.sweepIncomplete(olderThanMs));
}
