import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source';
import { statement, StatementRunner } from '../src/db/statements';
import { entities } from '../src/app/entities';
import { createEmptyDatabase, TestDatabase } from './support/database';

/**
 * StatementRunner's plan modes on one pooled connection: a statement declared `genericPlan` runs
 * with its generic plan, any other with Postgres's default choice, whichever ran on the
 * connection before (it keeps the mode of the last statement that needed one, instead of a SET
 * and a RESET around each generic statement).
 */
describe('statement plan modes on a pooled connection', () => {
  let database: TestDatabase;
  let db: DataSource;
  let sql: StatementRunner;

  const generic = statement('test.plan-generic', `SELECT $1::int + 1 AS n`, { genericPlan: true });
  const custom = statement('test.plan-default', `SELECT $1::int + 2 AS n`);
  /** Either mode: the counts below must not switch the connection they read. */
  const plans = statement(
    'test.plan-counts',
    `SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1`,
    { anyPlanMode: true },
  );
  /** No parameter: one plan whatever the mode, so it runs in the connection's mode as it is. */
  const mode = statement('test.plan-mode', `SELECT current_setting('plan_cache_mode') AS mode`);

  const countsOf = async (name: string) =>
    (await sql.first<{ generic: number; custom: number }>(plans, [name])) ?? { generic: 0, custom: 0 };
  const modeNow = async () => (await sql.first<{ mode: string }>(mode, []))!.mode;

  beforeAll(async () => {
    database = await createEmptyDatabase();
    // One connection: every statement below runs on it.
    db = createDataSource({ url: database.url, entities, poolSize: 1, applicationName: 'alloy-test' });
    await db.initialize();
    sql = new StatementRunner(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('runs generic statements with their generic plan and the others with custom plans, alternating on one connection', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await sql.first<{ n: number }>(generic, [i]))!.n).toBe(i + 1);
      expect(await modeNow()).toBe('force_generic_plan');
      expect((await sql.first<{ n: number }>(custom, [i]))!.n).toBe(i + 2);
      expect(await modeNow()).toBe('auto');
    }
    // Postgres plans a statement in the default mode custom for its first five calls.
    expect(await countsOf(generic.name)).toEqual({ generic: 3, custom: 0 });
    expect(await countsOf(custom.name)).toEqual({ generic: 0, custom: 3 });
  });

  it('keeps the connection in the generic mode between generic statements, and a transaction sets what it needs only for itself', async () => {
    await sql.run(generic, [1]);
    await sql.run(generic, [2]);
    expect(await modeNow()).toBe('force_generic_plan');
    const before = await countsOf(custom.name);
    const inside = await sql.transaction(async (tx) => {
      await sql.run(custom, [1], tx);
      const setting = (await sql.first<{ mode: string }>(mode, [], tx))!.mode;
      await sql.run(generic, [3], tx);
      return { setting, after: (await sql.first<{ mode: string }>(mode, [], tx))!.mode };
    });
    expect(inside).toEqual({ setting: 'auto', after: 'force_generic_plan' });
    expect((await countsOf(custom.name)).custom).toBe(before.custom + 1);
    // The transaction's SET LOCAL ended with it: the session is as the last statement outside left it.
    expect(await modeNow()).toBe('force_generic_plan');
  });

  it('hands a connection on after a statement failed on it', async () => {
    const failing = statement('test.plan-failing', `SELECT 1 / $1::int AS n`, { genericPlan: true });
    await expect(sql.run(failing, [0])).rejects.toThrow(/division by zero/);
    expect((await sql.first<{ n: number }>(custom, [5]))!.n).toBe(7);
    expect((await sql.first<{ n: number }>(generic, [5]))!.n).toBe(6);
  });
});
