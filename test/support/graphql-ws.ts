/**
 * A subscription case over the graphql-ws protocol (same path, key in `connection_init`): its first
 * answer (a result, an error, or the socket closing) as JSON text, within 10 s. A subscription that
 * is still quietly open then is fine: nothing failed.
 */
export async function subscribeOnce(url: string, apiKey: string, query: string, variables: Record<string, unknown>): Promise<{ text: string; closeCode?: number }> {
  const { createClient } = await import('graphql-ws');
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve) => {
    let settled = false;
    const client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { 'api-key': apiKey },
      retryAttempts: 0,
      lazy: true,
      on: { closed: (event) => finish(JSON.stringify({ closed: (event as { reason?: string }).reason ?? '' }), (event as { code?: number }).code) },
    });
    const timer = setTimeout(() => finish(JSON.stringify({ quiet: true })), 10_000);
    const finish = (text: string, closeCode?: number) => {
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
        error: (error) => finish(JSON.stringify(Array.isArray(error) ? { errors: error } : { error: String((error as Error)?.message ?? error) })),
        complete: () => finish(JSON.stringify({ complete: true })),
      },
    );
  });
}
