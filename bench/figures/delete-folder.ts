import fs from 'node:fs';
import path from 'node:path';
import { withClient } from '../lib/postgres';
import { objectKeysUnder } from '../seed/tables';
import { seedTree, timed, TREE } from './big-tree';
import { Figure, fmt } from './figure';

/** The gateway keeps deleted objects for its deletion delay (60 s by default) before a job removes them. */
const GONE_TIMEOUT_MS = 240_000;

const present = (dir: string, keys: string[]) => keys.filter((k) => fs.existsSync(path.join(dir, k))).length;

/** Deletes the seeded tree; the mutation answers first, the objects go afterwards. */
export const deleteFolder: Figure = {
  id: 'delete',
  title: 'deleting a folder of 10,000 files',
  target: 'answers < 500 ms; objects go afterwards',
  requires: ['Mutation.deleteEntry', 'Mutation.uploadFile', 'Mutation.createFolder'],
  async run(ctx) {
    await seedTree(ctx);
    const keys = await withClient(ctx.databaseUrl, (db) => objectKeysUnder(db, ctx.orgId, TREE.slice(1)));
    const before = present(ctx.storageDir, keys);
    if (before !== keys.length)
      throw new Error(`${keys.length - before} of the tree's ${keys.length} objects are missing before the delete`);
    const ms = await timed(ctx, 'mutation($p: String!) { deleteEntry(path: $p) { deletedFiles deletedFolders } }', { p: TREE });
    const started = Date.now();
    const afterAnswer = present(ctx.storageDir, keys);
    let left = afterAnswer;
    while (left > 0 && Date.now() - started < GONE_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 500));
      left = present(ctx.storageDir, keys);
    }
    const goneAfter = (Date.now() - started) / 1000;
    return {
      gateway: `answer ${fmt.ms(ms)}; objects ${left === 0 ? `gone after ${goneAfter.toFixed(0)} s` : `${left} left after ${GONE_TIMEOUT_MS / 1000} s`}`,
      baseline: '—',
      ratio: '—',
      met: ms < 500 && left === 0,
      note: `delete: client round trip of one deleteEntry over ${keys.length.toLocaleString('en-US')} files; ${afterAnswer.toLocaleString('en-US')} of their objects were still on disk when it answered (deletion jobs wait the storage deletion delay, 60 s by default, so in-flight downloads finish), all gone ${goneAfter.toFixed(0)} s after the answer.`,
    };
  },
};
