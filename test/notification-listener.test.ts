import { Client } from 'pg';
import { NotificationListener } from '../src/db/notification-listener';
import { createTestDatabase, TestDatabase } from './support/database';
import { waitFor } from './support/poll';

/** Waits for `done` (checked every 10 ms), failing after `ms`. */
const until = (done: () => boolean, ms = 10_000) => waitFor(done, Boolean, ms, 'the notifications', 10);

describe('NotificationListener (one LISTEN connection per process)', () => {
  let database: TestDatabase;
  let sql: Client;
  let listener: NotificationListener;

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = new Client({ connectionString: database.url });
    await sql.connect();
    listener = new NotificationListener(database.url);
    await listener.start();
  });
  afterAll(async () => {
    await listener.stop();
    await sql.end();
    await database.drop();
  });

  const backends = async () =>
    (
      await sql.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-notifications'`,
      )
    ).rows[0].n as number;

  it('delivers each channel to its own subscribers, after commit, over a single connection', async () => {
    const a: string[] = [];
    const b: string[] = [];
    const subA = listener.subscribe('test_channel_a', { onMessage: (p) => a.push(p) });
    const subB = listener.subscribe('test_channel_b', { onMessage: (p) => b.push(p) });
    expect(await subA.ready).toBe(true);
    expect(await subB.ready).toBe(true);
    await sql.query('BEGIN');
    await sql.query(`SELECT pg_notify('test_channel_a', 'one')`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(a).toEqual([]); // not before the commit
    await sql.query('COMMIT');
    await sql.query(`SELECT pg_notify('test_channel_b', 'two')`);
    await until(() => a.length === 1 && b.length === 1);
    expect(a).toEqual(['one']);
    expect(b).toEqual(['two']);
    expect(await backends()).toBe(1);
    subA.close();
    await sql.query(`SELECT pg_notify('test_channel_a', 'after close')`);
    await sql.query(`SELECT pg_notify('test_channel_b', 'still open')`);
    await until(() => b.length === 2);
    expect(a).toEqual(['one']);
    subB.close();
  });

  it('tells subscribers when the connection is lost and when it listens again, then delivers again', async () => {
    const changes: boolean[] = [];
    const messages: string[] = [];
    const sub = listener.subscribe('test_channel_c', { onMessage: (p) => messages.push(p), onConnectionChange: (up) => changes.push(up) });
    expect(await sub.ready).toBe(true);
    await sql.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'alloy-notifications'`,
    );
    await until(() => changes.length >= 2, 15_000);
    expect(changes).toEqual([false, true]);
    expect(listener.isListening).toBe(true);
    await sql.query(`SELECT pg_notify('test_channel_c', 'after reconnect')`);
    await until(() => messages.length === 1);
    expect(messages).toEqual(['after reconnect']);
    sub.close();
  });

  it('refuses a channel name that is not a plain identifier', () => {
    expect(() => listener.subscribe('x; DROP TABLE y', { onMessage: () => undefined })).toThrow(/not a channel name/);
  });
});
