import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** One SQL statement, prepared once per connection under its name (`<capability>.<what>`). */
export interface Statement {
  readonly name: string;
  readonly text: string;
  /**
   * Run with Postgres's generic plan (plan_cache_mode = force_generic_plan). For statements over
   * every day partition of the runs that no parameter prunes (the claim, request-log pages, a
   * conversation's turns) and for those that write runs by id: Postgres keeps planning those anew
   * at each call, because the generic plan's estimate looks no cheaper, and planning ~100
   * partitions costs ~200 times the unpartitioned statement (70–200 ms at load 10, against a
   * generic plan's 0.1 ms).
   */
  readonly genericPlan?: boolean;
  /**
   * Its plan is the same whatever plan_cache_mode (it reads no table, or it has no parameter, which
   * Postgres always plans once): it runs on a connection in either mode and never switches it.
   */
  readonly anyPlanMode?: boolean;
}

const declared = new Map<string, string>();

/** Declares a statement; a name stands for one text only (Postgres keeps the plan under it). */
export function statement(full: string, text: string, options: { genericPlan?: boolean; anyPlanMode?: boolean } = {}): Statement {
  if (declared.has(full) && declared.get(full) !== text) throw new Error(`statement ${full} declared twice with different SQL`);
  declared.set(full, text);
  return {
    name: full,
    text,
    ...(options.genericPlan ? { genericPlan: true } : {}),
    ...(options.anyPlanMode || !/\$\d/.test(text) ? { anyPlanMode: true } : {}),
  };
}

/** The plan_cache_mode a statement needs its connection in; undefined when either does. */
type PlanMode = 'generic' | 'default';
const planModeOf = (statement: Statement): PlanMode | undefined =>
  statement.anyPlanMode ? undefined : statement.genericPlan ? 'generic' : 'default';

/**
 * The pooled connections whose session is in force_generic_plan (the others are in the default
 * mode). A connection is switched only when a statement needs the other mode, and stays so when it
 * goes back to the pool: a worker's statements are nearly all generic, a gateway's nearly all not,
 * and a SET before and a RESET after each generic statement were two more round trips each
 * (BENCHMARKS.md, issue 22 item 4).
 */
const genericSessions = new WeakSet<PoolClient>();
/** Inside a transaction, the mode a SET LOCAL put it in (until the transaction ends). */
const transactionModes = new WeakMap<EntityManager, PlanMode>();
const sessionMode = (client: PoolClient): PlanMode => (genericSessions.has(client) ? 'generic' : 'default');

/**
 * The connection a TypeORM transaction runs on: for statements of ours (StatementRunner) and for
 * SQL a library writes that must join the transaction (pg-boss's job insert, see queue.ts).
 */
export function transactionConnection(tx: EntityManager): Promise<PoolClient> {
  return tx.queryRunner!.connect();
}

/**
 * The one way to run SQL of our own: rows come back as `rows`/`first`, changed-row counts as
 * `count` (never TypeORM's `[rows, count]` tuple of `query()`). Runs statements as named prepared statements, on the data source's own pool (the connections
 * TypeORM uses too) or on the connection of a TypeORM transaction. Postgres parses and plans a
 * named statement once per connection instead of on every call; for storage's recursive path walk
 * the planning took longer than running it. Each statement still goes to TypeORM's query logger.
 */
export class StatementRunner {
  constructor(private readonly db: DataSource) {}

  async run<T extends QueryResultRow>(statement: Statement, values: unknown[], tx?: EntityManager): Promise<QueryResult<T>> {
    this.db.logger.logQuery(statement.text, values);
    const query = { name: statement.name, text: statement.text, values };
    const wanted = planModeOf(statement);
    if (tx) {
      const client = await transactionConnection(tx);
      if (wanted && wanted !== (transactionModes.get(tx) ?? sessionMode(client))) {
        // Until the transaction ends; the session's own mode comes back with it.
        await client.query(`SET LOCAL plan_cache_mode = ${wanted === 'generic' ? 'force_generic_plan' : 'DEFAULT'}`);
        transactionModes.set(tx, wanted);
      }
      return client.query<T>(query);
    }
    const pool: Pool = (this.db.driver as PostgresDriver).master;
    const client: PoolClient = await pool.connect();
    // What pool.query does: a connection that breaks while it is out is not handed to anyone else,
    // nor is one whose statement failed, and its 'error' event (no listener of the pool's while it
    // is out) is not an uncaught one.
    let broken: Error | undefined;
    const onError = (error: Error) => (broken ??= error);
    client.on('error', onError);
    try {
      if (wanted && wanted !== sessionMode(client)) {
        await client.query(wanted === 'generic' ? `SET plan_cache_mode = force_generic_plan` : `RESET plan_cache_mode`);
        if (wanted === 'generic') genericSessions.add(client);
        else genericSessions.delete(client);
      }
      return await client.query<T>(query);
    } catch (error) {
      broken ??= error as Error;
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async rows<T extends QueryResultRow>(statement: Statement, values: unknown[], tx?: EntityManager): Promise<T[]> {
    return (await this.run<T>(statement, values, tx)).rows;
  }

  /** How many rows an INSERT, UPDATE or DELETE changed. */
  async count(statement: Statement, values: unknown[], tx?: EntityManager): Promise<number> {
    return (await this.run(statement, values, tx)).rowCount ?? 0;
  }

  async first<T extends QueryResultRow>(statement: Statement, values: unknown[], tx?: EntityManager): Promise<T | null> {
    return (await this.run<T>(statement, values, tx)).rows[0] ?? null;
  }

  /** Runs `work` in one transaction (TypeORM's, so that other capabilities' calls can join it). */
  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }
}

/** The SQL declared under `name` (the tests read the plans of the gateway's own statements). */
export function declaredStatement(name: string): Statement {
  const text = declared.get(name);
  if (text === undefined) throw new Error(`no statement ${name} is declared`);
  return { name, text };
}
