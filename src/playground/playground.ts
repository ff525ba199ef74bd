/**
 * GraphiQL playground (Ruru) served at `GET <endpoint>` for browsers.
 *
 * Everything is served from the `ruru` package itself; no CDN is involved:
 *  - `ruru/server`'s `ruruHTML()` builds the page. By default it points
 *    `staticPath` at https://unpkg.com/ruru@<version>/static/, so we always pass
 *    a same-origin `staticPath` (`<endpoint>/_ruru/<version>/`).
 *  - `ruru/static`'s `getStaticFile()` serves the bundle (ruru.js, ruru.css,
 *    webpack chunks, Monaco workers and the font), held in memory
 *    pre-compressed with brotli. The bundle resolves its chunks relative to
 *    `import.meta.url` and the CSS font via a relative `url()`, so everything
 *    stays under `staticPath`.
 *
 * Mount it at the application root, before the GraphQL middleware:
 *
 *     app.use(playgroundRouter({ endpoint: "/graphql" }));
 *     app.use("/graphql", cors(), express.json(), expressMiddleware(server));
 *
 * Non-browser requests (JSON or wildcard Accept headers, POST, ...) fall
 * through to the next handler. Apollo's own landing page should be disabled
 * (`ApolloServerPluginLandingPageDisabled()`), because it loads from Apollo's
 * CDN.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import type { NextFunction, Request, Response } from 'express';

// ---------------------------------------------------------------------------
// Minimal local typings for the parts of ruru we use. Importing ruru's own
// .d.ts would pull in `ruru-components` types, which are not installed (it is
// only a devDependency of ruru), and `ruru/server` only resolves with
// `moduleResolution` node16/nodenext/bundler. A typed `require` avoids both.
// ---------------------------------------------------------------------------
type HtmlPartName =
  'metaTags' | 'titleTag' | 'styleTags' | 'configScript' | 'headerScripts' | 'bodyContent' | 'bodyScripts' | 'bodyInitScript';

interface RuruServerConfig {
  /** URL path (must end with "/") from which the static bundle is served. */
  staticPath?: string;
  endpoint?: string;
  subscriptionEndpoint?: string;
  htmlParts?: Partial<Record<HtmlPartName, string | ((original: string) => string)>>;
  /** Serialised into the page as RURU_CONFIG and passed to <Ruru/> / GraphiQL. */
  clientConfig?: {
    defaultQuery?: string;
    initialQuery?: string;
    defaultHeaders?: string;
    initialHeaders?: string;
    isHeadersEditorEnabled?: boolean;
    showPersistHeadersSettings?: boolean;
    [key: string]: unknown;
  };
}

interface RuruStaticFile {
  content: Buffer;
  headers: Record<string, string>;
}

interface RuruServerModule {
  ruruHTML(config: RuruServerConfig): string;
}

interface RuruStaticModule {
  getStaticFile(ctx: {
    staticPath: string;
    urlPath: string;
    acceptEncoding: string | ReadonlyArray<string> | undefined;
    disallowDevAssets?: boolean;
  }): RuruStaticFile | null | Promise<RuruStaticFile | null>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ruruHTML } = require('ruru/server') as RuruServerModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getStaticFile } = require('ruru/static') as RuruStaticModule;

/** The installed ruru version; used to version the static URL for long-lived caching. */
function ruruVersion(): string {
  try {
    // `ruru/package.json` is not in the package's `exports`, so locate it
    // from the `ruru/static` entry point (node_modules/ruru/dist/static.js).
    const pkgJson = join(dirname(require.resolve('ruru/static')), '..', 'package.json');
    const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: unknown }).version;
    if (typeof version === 'string' && /^[0-9A-Za-z.+-]+$/.test(version)) return version;
  } catch {
    // fall through
  }
  return 'current';
}

export const PLAYGROUND_DEFAULT_QUERY = `# Alloy GraphQL playground.
# Put your API key in the "api-key" header (Headers tab below).
{
  organization {
    id
    name
  }
}
`;

// Empty rather than a placeholder: a request with an empty key counts as one without a key, so
// schema introspection (docs, autocomplete) works before the user pastes theirs.
export const PLAYGROUND_API_KEY_PLACEHOLDER = '';

export const PLAYGROUND_DEFAULT_HEADERS = `${JSON.stringify({ 'api-key': PLAYGROUND_API_KEY_PLACEHOLDER }, null, 2)}\n`;

/** Search parameters of a playground link that opens with an operation filled in (see playgroundLink). */
const LINK_QUERY_PARAM = 'query';
const LINK_VARIABLES_PARAM = 'variables';

/**
 * A link to the playground at `endpoint` (absolute) that opens with `query` and `variables`
 * (JSON text) in its editors, in a tab of their own, and the headers at their default (the empty
 * `api-key` for the user's key). A link never carries headers: it cannot set or see a key.
 */
export function playgroundLink(endpoint: string, operation: { query: string; variables?: string }): string {
  const url = new URL(endpoint);
  url.searchParams.set(LINK_QUERY_PARAM, operation.query);
  if (operation.variables !== undefined) url.searchParams.set(LINK_VARIABLES_PARAM, operation.variables);
  return url.toString();
}

// Runs before Ruru starts, after RURU_CONFIG is declared: GraphiQL opens a link's operation in a
// tab (or finds the tab that already holds it) through its initial* props. The headers are reset
// to the default rather than to whatever was last typed. Without a link, the page opens on the
// default query: given no initial query, GraphiQL looks among the stored tabs for an empty one and,
// after a link's tab (the request tester) was stored, finds none and adds an empty <untitled> tab.
const LINK_SCRIPT = `<script>
(function () {
  var params = new URLSearchParams(window.location.search);
  var query = params.get(${JSON.stringify(LINK_QUERY_PARAM)});
  if (query === null) {
    RURU_CONFIG.initialQuery = RURU_CONFIG.defaultQuery;
    return;
  }
  RURU_CONFIG.initialQuery = query;
  RURU_CONFIG.initialVariables = params.get(${JSON.stringify(LINK_VARIABLES_PARAM)}) || "";
  RURU_CONFIG.initialHeaders = RURU_CONFIG.defaultHeaders;
})();
</script>`;

/**
 * JSON schemas of custom scalars for the variables editor. GraphiQL checks variables against the
 * operation's types, and monaco-graphql knows no custom scalar: it underlines an object given to a
 * `JSON` variable ("Incorrect type. Expected one of string, number, boolean, integer"). Its worker
 * takes `customScalarSchemas`, which GraphiQL never passes; they are added where the worker is
 * created (Ruru announces the Monaco instance as `globalThis.__MONACO` before it makes any).
 */
export const PLAYGROUND_SCALAR_SCHEMAS = { JSON: {} };

const EDITOR_SCRIPT = `<script>
(function () {
  var scalars = ${JSON.stringify(PLAYGROUND_SCALAR_SCHEMAS)};
  var monaco;
  Object.defineProperty(globalThis, "__MONACO", {
    configurable: true,
    get: function () { return monaco; },
    set: function (value) {
      monaco = value;
      var create = value.editor.createWebWorker;
      value.editor.createWebWorker = function (options) {
        var config = options && options.createData && options.createData.languageConfig;
        if (config && Array.isArray(config.schemas)) {
          config.schemas = config.schemas.map(function (schema) {
            return Object.assign({}, schema, { customScalarSchemas: Object.assign({}, scalars, schema.customScalarSchemas) });
          });
        }
        return create.apply(this, arguments);
      };
    },
  });
})();
</script>`;

const NOTE_HTML = `<div id="alloy-playground-note" role="note">
<strong>Authentication:</strong> every request needs an <code>api-key</code> header.
Open the <em>Headers</em> tab under the query editor and paste your organization API key
(<code>alloy_sk_…</code>) as the value of <code>"api-key"</code>. Bearer tokens are not accepted.
Subscriptions (<code>workflowRunUpdated</code>) run over a websocket with the same headers.
</div>`;

// Body becomes a column: the note on top, the IDE filling the rest (ruru's
// default is `#ruru-root { height: 100vh }`, which would overflow).
const NOTE_CSS = `<style>
body { display: flex; flex-direction: column; height: 100vh; overflow: hidden; }
#alloy-playground-note { flex: 0 0 auto; padding: 6px 12px; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #fff8e1; color: #3e2c00; border-bottom: 1px solid #e6c200; }
#alloy-playground-note code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: rgba(0,0,0,0.07); padding: 0 3px; border-radius: 3px; }
#ruru-root { flex: 1 1 auto; min-height: 0; height: auto !important; }
</style>`;

const GRAPHQL_TYPES = ['application/graphql-response+json', 'application/json', 'text/html'];

/**
 * True for GET/HEAD requests whose Accept header prefers text/html over JSON,
 * i.e. a browser navigating to the endpoint. Wildcard Accept headers (curl,
 * fetch) and missing Accept headers are not considered browsers.
 */
export function wantsPlayground(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (!req.headers.accept) return false;
  // On equal quality, the client's own order wins; for wildcards the order of
  // this list wins, so JSON is preferred unless text/html is explicitly better.
  return req.accepts(GRAPHQL_TYPES) === 'text/html';
}

function normaliseEndpoint(endpoint: string): string {
  if (!endpoint.startsWith('/')) {
    throw new Error(`playgroundRouter: endpoint must be an absolute path (got ${JSON.stringify(endpoint)})`);
  }
  return endpoint.length > 1 ? endpoint.replace(/\/+$/, '') : endpoint;
}

/**
 * Express router serving the Ruru playground at `GET <endpoint>` (browsers only)
 * and its static assets under `<endpoint>/_ruru/<ruru version>/`.
 * Mount it at the app root: `app.use(playgroundRouter({ endpoint: "/graphql" }))`.
 */
export function playgroundRouter(opts: { endpoint: string; development?: boolean }): Router {
  const endpoint = normaliseEndpoint(opts.endpoint);
  const assetsRoot = `${endpoint === '/' ? '' : endpoint}/_ruru/`;
  const staticPath = `${assetsRoot}${ruruVersion()}/`;
  const production = !opts.development;

  const html = ruruHTML({
    endpoint,
    // Subscriptions go over graphql-ws on the same path (ws:// or wss:// as the page's own
    // scheme); GraphiQL's fetcher sends the Headers tab as the connection_init payload, so the
    // same `{ "api-key": … }` authenticates them.
    subscriptionEndpoint: endpoint,
    staticPath,
    clientConfig: {
      defaultQuery: PLAYGROUND_DEFAULT_QUERY,
      defaultHeaders: PLAYGROUND_DEFAULT_HEADERS,
      isHeadersEditorEnabled: true,
    },
    htmlParts: {
      // Inline empty favicon: stops the browser requesting /favicon.ico.
      metaTags: (original) => `${original}\n<link rel="icon" href="data:," />`,
      titleTag: '<title>Alloy GraphQL Playground</title>',
      styleTags: (original) => `${original}\n${NOTE_CSS}`,
      configScript: (original) => `${original}\n${LINK_SCRIPT}\n${EDITOR_SCRIPT}`,
      bodyContent: (original) => `${NOTE_HTML}\n${original}`,
    },
  });
  const htmlBuffer = Buffer.from(html, 'utf8');

  const router = Router();

  router.get(endpoint, (req: Request, res: Response, next: NextFunction) => {
    res.vary('Accept');
    if (!wantsPlayground(req)) return next();
    res.set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.send(htmlBuffer);
  });

  // Static bundle. Versioned URL => safe to cache forever.
  router.get(`${assetsRoot}*path`, async (req: Request, res: Response, next: NextFunction) => {
    try {
      // Strip the query string; `getStaticFile` strips `staticPath` itself.
      const urlPath = req.path;
      if (!urlPath.startsWith(staticPath)) {
        // Unknown/old version: don't let it fall through to GraphQL handlers.
        res.status(404).type('text/plain').send('Not found');
        return;
      }
      const file = await getStaticFile({
        staticPath,
        urlPath,
        acceptEncoding: req.headers['accept-encoding'],
        // Source maps pull ~10MB into memory; only offer them outside production.
        disallowDevAssets: production,
      });
      if (!file) {
        res.status(404).type('text/plain').send('Not found');
        return;
      }
      res.set(file.headers);
      res.set({
        'Cache-Control': 'public, max-age=31536000, immutable',
        'X-Content-Type-Options': 'nosniff',
        'Cross-Origin-Resource-Policy': 'same-origin',
        Vary: 'Accept-Encoding',
      });
      const etag = file.headers.etag;
      const ifNoneMatch = req.headers['if-none-match'];
      if (etag && ifNoneMatch && ifNoneMatch.split(/\s*,\s*/).includes(etag)) {
        res.removeHeader('Content-Length');
        res.removeHeader('Content-Encoding');
        res.status(304).end();
        return;
      }
      res.status(200);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      res.end(file.content);
    } catch (err) {
      next(err);
    }
  });

  return router;
}
