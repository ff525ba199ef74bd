/** The caller of a request: the organization its API key belongs to, and the key. */
export interface Principal {
  organizationId: string;
  organizationName: string;
  keyId: string;
}

/**
 * What every resolver gets. `org` is the caller's organization scope: its capabilities already know
 * the organization (and the key), so that no resolver passes an organization id. `services` holds
 * the process-wide services that know no organization (the run waiter, the run events). Each
 * resolver module names the few it uses (`GatewayContext<{ runWaiter: RunWaiter }, { workflows:
 * OrganizationWorkflows }>`), so that no capability depends on the whole set the composition root builds.
 */
export interface GatewayContext<S = unknown, O = unknown> {
  requestId: string;
  /** Null only for requests that carry no key; the auth plugin lets those reach introspection alone. */
  principal: Principal | null;
  /**
   * The organization scope of the request's key, made on first use (src/app/organization-scope.ts).
   * The auth plugin refuses every operation without a key that reads data before any resolver runs.
   */
  readonly org: O;
  services: S;
  /** Absolute base URL of this gateway as the client reached it, e.g. http://127.0.0.1:4000 */
  baseUrl: string;
  /** Per-request caches (DataLoaders) keyed by name; created lazily by the capability that needs them. */
  loaders: Map<string, unknown>;
  /**
   * Aborts when the client goes away before its answer is complete (the HTTP connection closed, the
   * websocket closed). Made on first call: only the few requests that wait need one.
   */
  clientGone(): AbortSignal;
}

/** A per-request DataLoader (or any cache), created on first use. */
export function loader<T>(ctx: Pick<GatewayContext, 'loaders'>, name: string, create: () => T): T {
  let existing = ctx.loaders.get(name) as T | undefined;
  if (!existing) {
    existing = create();
    ctx.loaders.set(name, existing);
  }
  return existing;
}
