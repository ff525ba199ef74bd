import { WriteBatcher } from '../../src/db/write-batcher';

/** The batcher behind a worker's appends and finishes: one statement in flight, what waits goes together. */
describe('WriteBatcher', () => {
  const recorder = (options: ConstructorParameters<typeof WriteBatcher<string, string>>[3] = {}, writeMs = 5) => {
    const statements: Array<{ items: string[]; at: number }> = [];
    const batcher = new WriteBatcher<string, string>(
      async (items) => {
        statements.push({ items, at: performance.now() });
        await new Promise((resolve) => setTimeout(resolve, writeMs));
        return items.map((item) => `wrote ${item}`);
      },
      (item) => item.split(':')[0],
      3,
      options,
    );
    return { batcher, statements };
  };

  it('writes what arrives during a statement in the next one, one item per key and at most maxItems each', async () => {
    const { batcher, statements } = recorder();
    const results = await Promise.all(['a:1', 'b:1', 'a:2', 'c:1', 'd:1', 'e:1'].map((item) => batcher.add(item)));
    expect(results).toEqual(['wrote a:1', 'wrote b:1', 'wrote a:2', 'wrote c:1', 'wrote d:1', 'wrote e:1']);
    // The first item starts a statement alone; the rest waited for it, a's second write for the next statement.
    expect(statements.map((s) => s.items)).toEqual([['a:1'], ['b:1', 'a:2', 'c:1'], ['d:1', 'e:1']]);
  });

  it('with a minimum interval, a lone item goes at once and the items that follow wait for the interval, together', async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 40 }, 2);
    const first = batcher.add('a:1');
    // Nothing was waiting: its statement started at once (synchronously).
    expect(statements.map((s) => s.items)).toEqual([['a:1']]);
    await first;
    const later = Promise.all([batcher.add('b:1'), batcher.add('c:1')]);
    // The statement before is done, but the interval is not over: they wait, together.
    expect(statements).toHaveLength(1);
    expect(await later).toEqual(['wrote b:1', 'wrote c:1']);
    expect(statements.map((s) => s.items)).toEqual([['a:1'], ['b:1', 'c:1']]);
    expect(statements[1].at - statements[0].at).toBeGreaterThanOrEqual(39);
  });

  it('with merge, an item joins the waiting one of its key (in order) and both get its answer; one in a statement waits', async () => {
    const written: string[][][] = [];
    const merged = new WriteBatcher<string[], number>(
      async (items) => {
        written.push(items.map((i) => [...i]));
        await new Promise((resolve) => setTimeout(resolve, 5));
        return items.map((i) => i.length);
      },
      (item) => item[0].split(':')[0],
      10,
      { merge: (waiting, item) => !item[0].endsWith('!') && !!waiting.push(...item) },
    );
    const answers = await Promise.all([['a:1'], ['a:2'], ['b:1'], ['a:3'], ['a:4!'], ['a:5']].map((item) => merged.add(item)));
    // a:1 went alone (nothing was waiting); a:2 waited and a:3 joined it; a:4! refused to join, a:5 joined it.
    expect(written).toEqual([[['a:1']], [['a:2', 'a:3'], ['b:1']], [['a:4!', 'a:5']]]);
    expect(answers).toEqual([1, 2, 1, 2, 2, 2]);
  });

  it('rejects the items of a failed statement and goes on with the next', async () => {
    let fail = true;
    const batcher = new WriteBatcher<string, string>(
      async (items) => {
        await new Promise((resolve) => setImmediate(resolve));
        if (fail) {
          fail = false;
          throw new Error('statement failed');
        }
        return items;
      },
      (item) => item,
      10,
    );
    const failed = batcher.add('x');
    const next = batcher.add('y');
    await expect(failed).rejects.toThrow('statement failed');
    await expect(next).resolves.toBe('y');
  });
});
