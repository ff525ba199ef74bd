import { seedTree, storageSnapshot, timed, TREE, treeFiles } from './big-tree';
import { Figure, fmt } from './figure';

const GONE_TIMEOUT_MS = 180_000;

/** Deletes the seeded tree; the mutation answers first, the objects go afterwards. */
export const deleteFolder: Figure = {
  id: 'delete',
  title: 'deleting a folder of 10,000 files',
  target: 'answers < 500 ms; objects go afterwards',
  requires: ['Mutation.deleteEntry', 'Mutation.uploadFile', 'Mutation.createFolder'],
  async run(ctx) {
    await seedTree(ctx);
    const objects = storageSnapshot(ctx.storageDir).size;
    const ms = await timed(ctx, 'mutation($p: String!) { deleteEntry(path: $p) { deletedFiles deletedFolders } }', { p: TREE });
    const started = Date.now();
    let left = objects;
    while (Date.now() - started < GONE_TIMEOUT_MS) {
      left = storageSnapshot(ctx.storageDir).size;
      if (left <= objects - treeFiles()) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const goneAfter = (Date.now() - started) / 1000;
    const allGone = left <= objects - treeFiles();
    return {
      gateway: `answer ${fmt.ms(ms)}; objects ${allGone ? `gone after ${goneAfter.toFixed(1)} s` : `${left - (objects - treeFiles())} left after ${GONE_TIMEOUT_MS / 1000} s`}`,
      baseline: '—',
      ratio: '—',
      met: ms < 500 && allGone,
    };
  },
};
