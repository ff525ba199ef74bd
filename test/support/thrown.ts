/** The error `work` throws; fails the test when it returns instead. */
export function thrownBy(work: () => unknown): any {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but it returned');
}

/** The error the promise of `work` rejects with; fails the test when it resolves instead. */
export async function rejectionOf(work: () => Promise<unknown>): Promise<any> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but it resolved');
}
