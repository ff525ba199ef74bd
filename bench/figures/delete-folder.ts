import fs from 'node:fs';
import path from 'node:path';
import { mustQuery } from '../lib/graphql';
import { withClient } from '../lib/postgres';
import { objectKeysUnder } from '../seed/tables';
import { seedTree, timed, TREE } from './big-tree';
import { Figure, fmt } from './figure';

/** The gateway keeps deleted objects for its deletion delay (60 s by default) before a job removes them. */
const GONE_TIMEOUT_MS = 240_000;

const present = (dir: string, keys: string[]) => keys.filter((k) => fs.existsSync(path.join(dir, k))).length;

/**
 * Deletes the seeded tree to the trash (no object touched), restores it, then deletes it for good:
 * each mutation answers first, and the objects go afterwards.
 */
export const deleteFolder: Figure = {
  id: 'delete',
  title: 'deleting a folder of 10,000 files (to the trash, restored, then for good)',
  target: 'each answers < 500 ms; objects go afterwards',
  requires: ['Mutation.deleteEntry', 'Mutation.uploadFile', 'Mutation.createFolder', 'Mutation.restoreEntry'],
  async run(ctx) {
    await seedTree(ctx);
    const keys = await withClient(ctx.databaseUrl, (db) => objectKeysUnder(db, ctx.orgId, TREE.slice(1)));
    const before = present(ctx.storageDir, keys);
    if (before !== keys.length)
      throw new Error(`${keys.length - before} of the tree's ${keys.length} objects are missing before the delete`);
    const treeId = (await mustQuery(ctx.gateway.url, ctx.apiKey, 'query($p: String!) { folder(path: $p) { id } }', { p: TREE })).folder.id;
    const trashMs = await timed(ctx, 'mutation($p: String!) { deleteEntry(path: $p) { deletedFiles deletedFolders } }', { p: TREE });
    const inTrash = present(ctx.storageDir, keys);
    const restoreMs = await timed(ctx, 'mutation($id: ID!) { restoreEntry(id: $id) { id } }', { id: treeId });
    const ms = await timed(ctx, 'mutation($p: String!) { deleteEntry(path: $p, permanent: true) { deletedFiles deletedFolders } }', {
      p: TREE,
    });
    const started = Date.now();
    const afterAnswer = present(ctx.storageDir, keys);
    let left = afterAnswer;
    while (left > 0 && Date.now() - started < GONE_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 500));
      left = present(ctx.storageDir, keys);
    }
    const goneAfter = (Date.now() - started) / 1000;
    return {
      gateway: `to trash ${fmt.ms(trashMs)}, restore ${fmt.ms(restoreMs)}, for good ${fmt.ms(ms)}; objects ${left === 0 ? `gone after ${goneAfter.toFixed(0)} s` : `${left} left after ${GONE_TIMEOUT_MS / 1000} s`}`,
      baseline: '—',
      ratio: '—',
      met: trashMs < 500 && restoreMs < 500 && ms < 500 && inTrash === keys.length && left === 0,
      note: `delete: client round trips of deleteEntry (to the trash), restoreEntry and deleteEntry(permanent: true) over ${keys.length.toLocaleString('en-US')} files; in the trash ${inTrash.toLocaleString('en-US')} of their objects stayed untouched; ${afterAnswer.toLocaleString('en-US')} were still on disk when the permanent delete answered (deletion jobs wait the storage deletion delay, 60 s by default, so in-flight downloads finish), all gone ${goneAfter.toFixed(0)} s after the answer.`,
    };
  },
};
