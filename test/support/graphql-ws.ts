import type { Client } from 'graphql-ws';

/** What the server said when it closed the socket. */
export interface SocketClose {
  code: number;
  reason: string;
}

/**
 * A graphql-ws client of the gateway at `url` (same path as HTTP) that never reconnects.
 * `connectionParams` is sent as the connection_init payload as it is (`undefined`: none at all);
 * `lazy` (the default) opens the socket at the first subscribe and closes it after the last.
 */
export async function subscriptionClient(
  url: string,
  connectionParams: Record<string, unknown> | undefined,
  onClosed: (close: SocketClose) => void = () => undefined,
  lazy = true,
): Promise<Client> {
  const { createClient } = await import('graphql-ws');
  const { default: WebSocket } = await import('ws');
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy,
    // A socket closed by the server is reported through `onClosed`; graphql-ws would also print it (console.error) for a client that is not lazy.
    onNonLazyError: () => undefined,
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason?: string };
        onClosed({ code, reason: String(reason ?? '') });
      },
    },
  });
}

/**
 * A subscription case over the graphql-ws protocol (same path, key in `connection_init`): its first
 * answer (a result, an error, or the socket closing) as JSON text, within 10 s. A subscription that
 * is still quietly open then is fine: nothing failed.
 */
export async function subscribeOnce(
  url: string,
  apiKey: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<{ text: string; closeCode?: number }> {
  let finish: (text: string, closeCode?: number) => void = () => undefined;
  const client = await subscriptionClient(url, { 'api-key': apiKey }, (close) =>
    finish(JSON.stringify({ closed: close.reason }), close.code),
  );
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => finish(JSON.stringify({ quiet: true })), 10_000);
    finish = (text: string, closeCode?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      Promise.resolve(client.dispose()).catch(() => undefined);
      resolve({ text, closeCode });
    };
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (result) => finish(JSON.stringify(result)),
        error: (error) =>
          finish(JSON.stringify(Array.isArray(error) ? { errors: error } : { error: String((error as Error)?.message ?? error) })),
        complete: () => finish(JSON.stringify({ complete: true })),
      },
    );
  });
}

/** How a subscription ended: completed by the server, an error message, or the socket closing. */
export type SubscriptionEnd = { complete: true } | { errors: unknown[] } | { closed: number; reason: string };

export interface CollectedSubscription {
  /** Every `next` payload so far, in order. */
  results: Array<{ data?: any; errors?: any[] }>;
  /** Resolves when the subscription ends, however it ends. */
  ended: Promise<SubscriptionEnd>;
  /** Resolves once `results` has at least `count` payloads (or the subscription has ended). */
  received(count: number): Promise<void>;
  /** Unsubscribes and closes the socket. */
  close(): Promise<void>;
}

/**
 * A subscription over graphql-ws that records every payload until it ends. `connectionParams`
 * is sent as the connection_init payload as it is (`undefined`: none at all).
 */
export async function collectSubscription(
  url: string,
  connectionParams: Record<string, unknown> | undefined,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<CollectedSubscription> {
  const results: CollectedSubscription['results'] = [];
  const waiters: Array<() => void> = [];
  let finish!: (end: SubscriptionEnd) => void;
  let finished = false;
  const ended = new Promise<SubscriptionEnd>(
    (resolve) =>
      (finish = (end) => {
        if (finished) return;
        finished = true;
        resolve(end);
        for (const waiter of waiters.splice(0)) waiter();
      }),
  );
  const client = await subscriptionClient(url, connectionParams, (close) => finish({ closed: close.code, reason: close.reason }));
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (result) => {
        results.push(result as { data?: any; errors?: any[] });
        for (const waiter of waiters.splice(0)) waiter();
      },
      error: (error) => {
        if (Array.isArray(error)) finish({ errors: error });
        else if (error && typeof (error as { code?: unknown }).code === 'number') {
          finish({ closed: (error as { code: number }).code, reason: String((error as { reason?: string }).reason ?? '') });
        } else finish({ errors: [{ message: String((error as Error)?.message ?? error) }] });
      },
      complete: () => finish({ complete: true }),
    },
  );
  const received = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (results.length >= count || finished ? resolve() : waiters.push(check));
      check();
    });
  return {
    results,
    ended,
    received,
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
}
