import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { errorBody } from './error-handlers';

export type RouteHandler = RequestHandler | ErrorRequestHandler;

/** `/graphql` and everything under it, as Express mounts a path: any case, with or without a trailing part. */
const GRAPHQL_PATH = /^\/graphql(?:\/|\?|$)/i;

/**
 * Everything under `/graphql` — the playground, the body parsers, authentication, GraphQL POSTs,
 * Apollo for the rest — as one list of Express middleware, called in order for each request
 * without Express's application and router: on this machine `app.handle` and the router cost
 * about 30 to 60 µs of CPU per request, 10 to 20% of a listing (BENCHMARKS.md, issue 22), and
 * this path has one fixed list of handlers. The handlers still get Express's request and
 * response (the app's prototypes and settings, `res.locals`, as `app.handle` gives them), and are
 * called as Express's router calls them: an error skips to the next error handler, a thrown error
 * or a rejected promise is passed on as an error. Every other path is the Express app's.
 */
export class GraphQLRoute {
  constructor(
    private readonly app: Express,
    private readonly handlers: readonly RouteHandler[],
  ) {}

  /** Whether the request is this route's (its path is `/graphql` or under it). */
  matches(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    if (url.startsWith('/')) return GRAPHQL_PATH.test(url);
    // The absolute form a proxy may send (`POST http://host/graphql`), as Express reads it.
    try {
      return GRAPHQL_PATH.test(new URL(url).pathname);
    } catch {
      return false;
    }
  }

  handle(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const req = incoming as Request;
    const res = outgoing as Response;
    // What app.handle does before its router runs.
    (req as { res?: Response }).res = res;
    (res as { req?: Request }).req = req;
    Object.setPrototypeOf(req, this.app.request);
    Object.setPrototypeOf(res, this.app.response);
    res.locals ??= Object.create(null);
    req.originalUrl ??= req.url;
    req.baseUrl = '';

    const handlers = this.handlers;
    let index = 0;
    const next: NextFunction = (error?: unknown) => {
      while (index < handlers.length) {
        const handler = handlers[index++];
        const handlesErrors = handler.length === 4;
        if (!!error !== handlesErrors) continue;
        try {
          const returned: unknown = handlesErrors
            ? (handler as ErrorRequestHandler)(error, req, res, next)
            : (handler as RequestHandler)(req, res, next);
          if (returned instanceof Promise) returned.then(undefined, (rejected) => next(rejected ?? new Error('Rejected promise')));
        } catch (thrown) {
          next(thrown);
        }
        return;
      }
      // Past the last handler (its last one answers every error): nothing under /graphql matched.
      if (!res.headersSent) res.status(404).json(errorBody(`Cannot ${req.method} ${req.path}`, 'NOT_FOUND'));
    };
    next();
  }
}
