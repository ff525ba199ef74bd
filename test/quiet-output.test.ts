import { Writable } from 'node:stream';
import { useGatewayWithOrg } from './support/gateway';
import { collectSubscription, SocketClose, subscriptionClient } from './support/graphql-ws';
import { waitFor } from './support/poll';

/**
 * A green test run prints no error dumps: what a client may do wrong over the websocket (a message
 * over the size limit, a revoked key on a client that connects at once) is answered by closing the
 * socket with its code and, on the server, one log line; nothing goes to the console.
 */

const UPDATES = 'subscription($id: ID!) { workflowRunUpdated(id: $id) { id status } }';

describe('websocket refusals are quiet', () => {
  const logLines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const { gw, org } = useGatewayWithOrg({ background: false, logDestination: logs, env: { LOG_LEVEL: 'info' } });
  let consoleCalls: unknown[][];
  let restore: Array<() => void>;

  beforeEach(() => {
    consoleCalls = [];
    restore = (['error', 'warn', 'log'] as const).map((method) => {
      const spy = jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleCalls.push([method, ...args]));
      return () => spy.mockRestore();
    });
  });
  afterEach(() => restore.forEach((undo) => undo()));

  it('a message over MAX_JSON_BODY_BYTES closes the socket with 1009, logs one line, and prints nothing', async () => {
    const subscription = await collectSubscription(gw.url, { 'api-key': org.apiKey }, UPDATES, {
      id: '00000000-0000-4000-8000-000000000000',
      padding: 'x'.repeat(gw.config.maxJsonBodyBytes),
    });
    expect(await subscription.ended).toEqual({ closed: 1009, reason: expect.any(String) });
    const line = await waitFor(
      async () => logLines.find((l) => l.includes('websocket closed')),
      (found) => found !== undefined,
      10_000,
      'the log line of the closed socket',
    );
    expect(JSON.parse(line!)).toMatchObject({ level: 30, code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' });
    expect(consoleCalls).toEqual([]);
  });

  it('a client that connects at once with a key that is no key is closed with 4403, and nothing is printed', async () => {
    const closes: SocketClose[] = [];
    const client = await subscriptionClient(gw.url, { 'api-key': 'alloy_sk_0000000000000000_nope' }, (close) => closes.push(close), false);
    try {
      await waitFor(
        async () => closes.length,
        (n) => n > 0,
        10_000,
        'the socket to be closed',
      );
      expect(closes[0].code).toBe(4403);
      // graphql-ws reports a failed eager connection after the close event: give it that turn.
      await new Promise((resolve) => setImmediate(resolve));
      expect(consoleCalls).toEqual([]);
    } finally {
      await client.dispose();
    }
  });
});
