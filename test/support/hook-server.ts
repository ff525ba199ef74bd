import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** The body exactly as it arrived, for byte-level checks (signatures, JSON as sent). */
  raw: string;
}

export type HookHandler = (hook: ReceivedHook) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>;

/** A route whose answer waits for the test: for work that must be caught in the middle of a step. */
export interface HeldRoute {
  /** Resolves when the first request has arrived. */
  entered: Promise<void>;
  /** Lets every request to the route, held or still to come, have its answer. */
  release(): void;
}

/** A real HTTP server on 127.0.0.1 for `http` steps to call: routes by path, records every request. */
export interface HookServer {
  url: string;
  received: ReceivedHook[];
  route(path: string, handler: HookHandler): void;
  /** Routes `path` to `answer`, given only once `release()` is called. */
  hold(path: string, answer: { status: number; body?: unknown }): HeldRoute;
  close(): Promise<void>;
}

export async function startHookServer(): Promise<HookServer> {
  const routes = new Map<string, HookHandler>();
  const received: ReceivedHook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const hook: ReceivedHook = { path: req.url ?? '/', headers: req.headers, body: text ? JSON.parse(text) : null, raw: text };
      received.push(hook);
      const handler = routes.get(hook.path);
      const answer = handler ? await handler(hook) : { status: 404, body: { error: 'no such hook' } };
      if (res.destroyed) return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    route: (path, handler) => void routes.set(path, handler),
    hold(path, answer) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let enter!: () => void;
      const entered = new Promise<void>((resolve) => (enter = resolve));
      routes.set(path, async () => {
        enter();
        await released;
        return answer;
      });
      return { entered, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
