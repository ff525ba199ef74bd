import { createParser } from 'eventsource-parser';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request to the streaming target, held open for the test to write to. */
export interface StreamCall {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** Writes one server-sent event (`event` named, `data` as given: JSON-encoded unless a string). */
  send(data: unknown, event?: string): void;
  /** Writes raw bytes as they are (several events at once, a piece of one). */
  raw(text: string): void;
  end(): void;
  /** Resolves when the caller went away before `end()` (its request was aborted). */
  aborted: Promise<void>;
  /** True once the caller went away before `end()`. */
  isAborted(): boolean;
}

/**
 * A real HTTP server answering `text/event-stream`: each POST is held open and handed to the test
 * (`next()`), which writes its events one by one, as an LLM streaming tokens would.
 */
export interface StreamTarget {
  url: string;
  calls: StreamCall[];
  /** The next call (already arrived or still to come), in arrival order. */
  next(): Promise<StreamCall>;
  close(): Promise<void>;
}

export async function startStreamTarget(): Promise<StreamTarget> {
  const calls: StreamCall[] = [];
  let taken = 0;
  const waiting: Array<(call: StreamCall) => void> = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let ended = false;
      let aborted = false;
      let onAbort!: () => void;
      const abortedPromise = new Promise<void>((resolve) => (onAbort = resolve));
      res.on('close', () => {
        if (!ended) {
          aborted = true;
          onAbort();
        }
      });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const text = Buffer.concat(chunks).toString('utf8');
      const call: StreamCall = {
        path: req.url ?? '/',
        headers: req.headers,
        body: text ? JSON.parse(text) : null,
        send: (data, event) => {
          const encoded = typeof data === 'string' ? data : JSON.stringify(data);
          res.write(
            `${event ? `event: ${event}\n` : ''}${encoded
              .split('\n')
              .map((line) => `data: ${line}`)
              .join('\n')}\n\n`,
          );
        },
        raw: (bytes) => void res.write(bytes),
        end: () => {
          ended = true;
          res.end();
        },
        aborted: abortedPromise,
        isAborted: () => aborted,
      };
      calls.push(call);
      const waiter = waiting.shift();
      if (waiter) {
        taken++;
        waiter(call);
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    next: () => (taken < calls.length ? Promise.resolve(calls[taken++]) : new Promise((resolve) => waiting.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The server-sent events of a `text/event-stream` answer, read as they arrive (for `GET /runs/:id/events`). */
export interface SseReader {
  status: number;
  contentType: string | null;
  events: Array<{ id?: string; event?: string; data: any }>;
  /** Resolves once `count` events have arrived or the stream has ended. */
  received(count: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  done: Promise<void>;
  /** Closes the connection from the client's side. */
  abort(): void;
}

export async function readSse(url: string, headers: Record<string, string>): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: SseReader['events'] = [];
  const waiters: Array<() => void> = [];
  let finished = false;
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const parser = createParser({
    onEvent: (e) => {
      events.push({ id: e.id, event: e.event, data: JSON.parse(e.data) });
      notify();
    },
  });
  const done = (async () => {
    if (!response.ok || !response.body) {
      const text = await response.text();
      events.push({ data: text ? JSON.parse(text) : null });
      return;
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted by the test
    }
  })().finally(() => {
    finished = true;
    notify();
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    events,
    received: (count) =>
      new Promise<void>((resolve) => {
        const check = () => (events.length >= count || finished ? resolve() : waiters.push(check));
        check();
      }),
    done,
    abort: () => controller.abort(),
  };
}
