import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import WebSocket, { type WebSocketServer } from 'ws';
import type { Logger } from '../observability/logger';

/**
 * graphql-ws's protocol on `ws` sockets: graphql-ws's own `use/ws` adapter, which its authors
 * publish as "a basic starter, feel free to copy the code over and adjust it", adjusted in two
 * ways for followers of streamed runs (BENCHMARKS.md, run-events):
 *
 * - A message is handed to the socket and the subscription goes on to its next event at once,
 *   instead of waiting for the socket to have written the message out (the starter's `send`
 *   resolves in ws's write callback, a tick or more later, so a follower that was several events
 *   behind got them one write at a time). A socket that has more than SEND_HIGH_WATER bytes
 *   queued (a slow client) is waited for as before, so that memory stays bounded.
 * - Every socket written to during one turn of the event loop is corked until the end of that turn
 *   (setImmediate): the frames of one turn leave in one `writev` per socket instead of one per
 *   message. The events one announcement brings to a follower are written together.
 *
 * Errors of a socket (a client breaking the protocol: a message over maxPayload, a bad frame) are
 * logged as what they are; ws has already closed the socket with the right code (1009, 1002…).
 */
export interface SocketExtra {
  readonly socket: WebSocket;
  readonly request: http.IncomingMessage;
}

/** Bytes queued on a socket above which a subscription waits for its message to be written out. */
export const SEND_HIGH_WATER = 64 * 1024;

/** Sockets written to during this turn of the event loop, uncorked together at its end. */
class TurnWrites {
  private readonly corked = new Set<Duplex>();
  private scheduled = false;

  cork(socket: Duplex): void {
    if (this.corked.has(socket)) return;
    socket.cork();
    this.corked.add(socket);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.uncork());
    }
  }

  private uncork(): void {
    this.scheduled = false;
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  }
}

export interface GraphQLWsSockets {
  /** Serves the protocol on a socket just upgraded by `wss` (`raw` is the upgraded TCP socket). */
  open(socket: WebSocket, request: http.IncomingMessage, raw: Duplex): void;
  /** Closes every socket with 1001 "Going away" and stops `wss`. */
  dispose(): Promise<void>;
}

/** Pings every `keepAliveMs` and cuts off a socket whose pong does not come within as long, as the starter does. */
export function serveGraphQLWs<P extends Record<string, unknown>, E extends SocketExtra>(
  options: ServerOptions<P, E>,
  wss: WebSocketServer,
  logger: Logger,
  { isProd, keepAliveMs = 12_000 }: { isProd: boolean; keepAliveMs?: number },
): GraphQLWsSockets {
  const server = makeServer(options);
  const writes = new TurnWrites();
  wss.options.handleProtocols = handleProtocols;
  const internalError = (error: unknown) =>
    isProd ? 'Internal server error' : (error instanceof Error ? error.message : String(error)).slice(0, 120) || 'Internal server error';

  return {
    open(socket, request, raw) {
      socket.on('error', (error: Error & { code?: string }) =>
        logger.info({ code: error.code ?? 'unknown' }, 'websocket closed: the client broke the protocol'),
      );
      let pongWait: NodeJS.Timeout | undefined;
      const pingInterval = setInterval(() => {
        if (socket.readyState !== WebSocket.OPEN) return;
        pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
        socket.once('pong', () => {
          clearTimeout(pongWait);
          pongWait = undefined;
        });
        socket.ping();
      }, keepAliveMs);
      const closed = server.opened(
        {
          protocol: socket.protocol,
          send(data) {
            if (socket.readyState !== WebSocket.OPEN) return;
            writes.cork(raw);
            if (socket.bufferedAmount < SEND_HIGH_WATER) {
              socket.send(data);
              return;
            }
            return new Promise<void>((resolve, reject) => socket.send(data, (error) => (error ? reject(error) : resolve())));
          },
          close: (code, reason) => socket.close(code, reason),
          onMessage: (handle) =>
            socket.on('message', async (message) => {
              try {
                await handle(String(message));
              } catch (error) {
                logger.error({ err: error }, 'graphql-ws message handling failed');
                socket.close(CloseCode.InternalServerError, internalError(error));
              }
            }),
        },
        // The rest of E is filled in by the hooks (optional fields).
        { socket, request } as E,
      );
      socket.once('close', (code, reason) => {
        clearTimeout(pongWait);
        clearInterval(pingInterval);
        void closed(code, String(reason));
      });
    },
    async dispose() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
