import fs from 'node:fs';
import path from 'node:path';
import { mustQuery } from '../lib/graphql';
import { withClient } from '../lib/postgres';
import { seedTreeRows } from '../seed/tables';
import type { BenchContext } from './figure';

export const TREE = '/bench-tree';
const FOLDERS = 100;

/** Files in the seeded tree (BENCH_TREE_FILES to try a smaller one). */
export const treeFiles = () => Number(process.env.BENCH_TREE_FILES ?? 10_000);

let seeded: Promise<void> | undefined;

/**
 * A folder with 100 subfolders holding 10,000 small files in all, seeded once per run and shared
 * by the rename/move and delete figures: the top folder through the API, the rows below it by SQL
 * (seedTreeRows) and the objects written where the disk driver keeps them.
 */
export function seedTree(ctx: BenchContext): Promise<void> {
  seeded ??= (async () => {
    const files = treeFiles();
    const started = Date.now();
    const { createFolder } = await mustQuery(ctx.gateway.url, ctx.apiKey, 'mutation($p: String!) { createFolder(path: $p) { id } }', {
      p: TREE,
    });
    const objects = await withClient(ctx.databaseUrl, (db) =>
      seedTreeRows(db, { orgId: ctx.orgId, treeId: createFolder.id, folders: FOLDERS, files }),
    );
    fs.mkdirSync(path.join(ctx.storageDir, ctx.orgId), { recursive: true });
    for (const { key, bytes } of objects) fs.writeFileSync(path.join(ctx.storageDir, key), bytes, { flag: 'wx' });
    const check = await mustQuery(
      ctx.gateway.url,
      ctx.apiKey,
      'query($p: String!) { folder(path: $p) { children(first: 1) { totalCount } } }',
      { p: TREE },
    );
    if (check.folder?.children?.totalCount !== FOLDERS)
      throw new Error(`the seeded tree lists ${check.folder?.children?.totalCount} folders, not ${FOLDERS}`);
    ctx.log(`seeded ${files} files under ${TREE} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  })();
  return seeded;
}

/** Every file under the gateway's storage directory with its inode and size. */
export function storageSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) {
        const st = fs.statSync(full, { throwIfNoEntry: false });
        if (st) out.set(full, `${st.ino}:${st.size}:${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

/** Objects written or rewritten between two snapshots. */
export function objectWrites(before: Map<string, string>, after: Map<string, string>): number {
  let n = 0;
  for (const [file, id] of after) if (before.get(file) !== id) n++;
  return n;
}

/** Client-side round trip of one mutation, in ms; throws on an error answer. */
export async function timed(ctx: BenchContext, query: string, variables: Record<string, unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await mustQuery(ctx.gateway.url, ctx.apiKey, query, variables);
  return Number(process.hrtime.bigint() - started) / 1e6;
}
