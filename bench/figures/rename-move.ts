import { median } from '../lib/load';
import { objectWrites, seedTree, storageSnapshot, timed, TREE, treeFiles } from './big-tree';
import { Figure, fmt } from './figure';

const RENAME = 'mutation($p: String!, $n: String!) { renameEntry(path: $p, name: $n) { id } }';
const MOVE = 'mutation($p: String!, $to: String!) { moveEntry(path: $p, to: $to) { id } }';
const REPEAT = 3;

/** Renames the seeded tree back and forth, then moves it into another folder and back. */
export const renameMove: Figure = {
  id: 'rename-move',
  title: 'rename / move of a folder with 10,000 descendants',
  target: '< 50 ms each, zero object copies',
  requires: ['Mutation.renameEntry', 'Mutation.moveEntry', 'Mutation.uploadFile', 'Mutation.createFolder'],
  async run(ctx) {
    await seedTree(ctx);
    await timed(ctx, 'mutation($p: String!) { createFolder(path: $p) { id } }', { p: '/bench-move-target' });
    const before = storageSnapshot(ctx.storageDir);
    const renames: number[] = [];
    const moves: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      renames.push(await timed(ctx, RENAME, { p: TREE, n: 'bench-tree-renamed' }));
      renames.push(await timed(ctx, RENAME, { p: `${TREE}-renamed`, n: TREE.slice(1) }));
      moves.push(await timed(ctx, MOVE, { p: TREE, to: '/bench-move-target' }));
      moves.push(await timed(ctx, MOVE, { p: `/bench-move-target${TREE}`, to: '/' }));
    }
    const copies = objectWrites(before, storageSnapshot(ctx.storageDir));
    const r = median(renames);
    const m = median(moves);
    return {
      gateway: `rename ${fmt.ms(r)}, move ${fmt.ms(m)}; ${copies} object writes`,
      baseline: '—',
      ratio: '—',
      met: r < 50 && m < 50 && copies === 0,
      note: `rename/move: median client round trip of ${REPEAT * 2} each over ${treeFiles().toLocaleString('en-US')} files in 100 folders; object writes counted from the disk driver's directory (inode, size, mtime).`,
    };
  },
};
