import type http from 'node:http';
import type { DataSource } from 'typeorm';
import type { AuthService, Principal } from '../auth/auth.service';
import type { Config } from '../config/config';
import { missingKeyError } from '../graphql/auth-plugin';
import type { GatewayContext } from '../graphql/context';
import type { ApiKeyRateLimiter } from '../limits/rate-limit';
import type { Queue } from '../queue/queue';
import type { Storage } from '../storage/storage';
import type { RunWaiter } from '../workflows/run-waiter';
import type { RunEventRouteScope, RunEventRouteServices } from './run-event-routes';
import type { ContentRouteScope, ContentRouteServices } from './storage-routes';

/**
 * The few services the edge itself uses. The gateway is given the composition root's whole set
 * (src/app/services.ts, already started) and hands it on to resolvers in their context, where each
 * resolver module names the few it uses.
 */
export interface EdgeServices extends RunEventRouteServices, ContentRouteServices {
  config: Config;
  db: DataSource;
  auth: AuthService;
  rateLimits: ApiKeyRateLimiter;
  queue: Queue;
  storage: Storage;
  runWaiter: RunWaiter;
  /**
   * The organization scope of a caller (src/app/organization-scope.ts): what resolvers get as
   * `ctx.org`, and what the routes that take a key use.
   */
  forOrganization(principal: Principal): RunEventRouteScope & ContentRouteScope;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * Absolute base URL of this gateway as the client reached it, for both transports (an HTTP request,
 * a websocket's upgrade request). `X-Forwarded-Proto` is believed from a proxy on the loopback
 * only, as Express's `trust proxy: 'loopback'` does.
 */
export function baseUrlOf(req: http.IncomingMessage): string {
  const forwarded = req.headers['x-forwarded-proto'];
  let protocol = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  if (typeof forwarded === 'string' && LOOPBACK.test(req.socket.remoteAddress ?? '')) {
    const comma = forwarded.indexOf(',');
    protocol = (comma < 0 ? forwarded : forwarded.slice(0, comma)).trim();
  }
  return `${protocol}://${req.headers.host ?? '127.0.0.1'}`;
}

/** What differs between the transports when a request's context is built. */
export interface RequestParts {
  requestId: string;
  principal: Principal | null;
  request: http.IncomingMessage;
  /** Aborts when the client goes away (the HTTP connection or the websocket closed); made on first call. */
  clientGone(): AbortSignal;
}

/**
 * The one context builder of both transports: what every resolver gets. A class, so that a request
 * costs one small object: the organization scope is made on the first `ctx.org`, by the getter.
 */
class RequestContext implements GatewayContext {
  readonly requestId: string;
  readonly principal: Principal | null;
  readonly baseUrl: string;
  readonly loaders = new Map<string, unknown>();
  readonly clientGone: () => AbortSignal;
  private scope: unknown = undefined;

  constructor(
    readonly services: EdgeServices,
    parts: RequestParts,
  ) {
    this.requestId = parts.requestId;
    this.principal = parts.principal;
    this.baseUrl = baseUrlOf(parts.request);
    this.clientGone = parts.clientGone;
  }

  get org(): unknown {
    if (this.scope === undefined) {
      // Unreachable through the schema: the auth plugin refuses an operation without a key before it runs, introspection aside.
      if (!this.principal) throw missingKeyError();
      this.scope = this.services.forOrganization(this.principal);
    }
    return this.scope;
  }
}

export function requestContext(services: EdgeServices, parts: RequestParts): GatewayContext {
  return new RequestContext(services, parts);
}
