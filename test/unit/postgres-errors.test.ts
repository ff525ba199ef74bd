import { PgError, pgCode, retryOnDeadlock } from '../../src/db/postgres-errors';
import { rejectionOf } from '../support/thrown';

/** An error shaped like the pg driver's: an Error with the SQLSTATE in `code`. */
const pgError = (code: string) => Object.assign(new Error(`postgres said ${code}`), { code });

describe('pgCode', () => {
  it('is the SQLSTATE of a driver error', () => {
    expect(pgCode(pgError(PgError.UNIQUE_VIOLATION))).toBe('23505');
    expect(pgCode({ code: '40P01' })).toBe('40P01');
  });

  it('is undefined for anything without a string code', () => {
    for (const error of [new Error('x'), { code: 23505 }, null, undefined, 'error', { code: null }]) expect(pgCode(error)).toBeUndefined();
  });
});

describe('retryOnDeadlock', () => {
  it('runs the work once when it succeeds', async () => {
    let calls = 0;
    expect(await retryOnDeadlock(async () => ++calls)).toBe(1);
    expect(calls).toBe(1);
  });

  it('runs the work again after a deadlock, and answers what the successful run answered', async () => {
    let calls = 0;
    const result = await retryOnDeadlock(async () => {
      calls++;
      if (calls < 3) throw pgError(PgError.DEADLOCK_DETECTED);
      return 'done';
    });
    expect({ result, calls }).toEqual({ result: 'done', calls: 3 });
  });

  it('gives up after the given attempts with the last deadlock error', async () => {
    let calls = 0;
    const error = await rejectionOf(() =>
      retryOnDeadlock(async () => {
        calls++;
        throw pgError(PgError.DEADLOCK_DETECTED);
      }, 4),
    );
    expect(calls).toBe(4);
    expect(error.code).toBe('40P01');
    let defaults = 0;
    await rejectionOf(() => retryOnDeadlock(async () => Promise.reject(pgError(PgError.DEADLOCK_DETECTED)).finally(() => defaults++)));
    expect(defaults).toBe(5);
  });

  it('does not run again after any other error', async () => {
    for (const failure of [
      pgError(PgError.UNIQUE_VIOLATION),
      pgError(PgError.FOREIGN_KEY_VIOLATION),
      new Error('plain'),
      { code: '40001' },
    ]) {
      let calls = 0;
      const error = await rejectionOf(() =>
        retryOnDeadlock(async () => {
          calls++;
          throw failure;
        }),
      );
      expect({ error, calls }).toEqual({ error: failure, calls: 1 });
    }
  });
});
