import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../observability/logger';

/** One error in the GraphQL error shape, as every non-GraphQL route answers errors too. */
export function errorBody(message: string, code: string, extra: Record<string, unknown> = {}) {
  return { errors: [{ message, extensions: { code, ...extra } }] };
}

/** Body-parser failures answered in the GraphQL error shape instead of Express's HTML page. */
export const bodyErrors =
  (jsonBodyLimit: number): ErrorRequestHandler =>
  (error, _req, res, next) => {
    const status = typeof error?.status === 'number' ? error.status : 500;
    if (res.headersSent || status >= 500) return next(error);
    const message =
      error.type === 'entity.too.large'
        ? `Request body too large (limit ${jsonBodyLimit} bytes)`
        : error.type === 'entity.parse.failed'
          ? 'Malformed JSON body'
          : error.expose
            ? String(error.message)
            : 'Bad request';
    res.status(status).json(errorBody(message, 'BAD_REQUEST'));
  };

/**
 * The last error handler of the app: whatever a route or middleware passed on is answered as
 * JSON, never as Express's HTML error page (which prints the stack trace unless NODE_ENV is
 * production). The detail goes to the log; the answer carries it only when `showDetails`.
 */
export const unhandledErrors =
  (logger: Logger, showDetails: boolean): ErrorRequestHandler =>
  (error, req, res, _next) => {
    const status = typeof error?.status === 'number' && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) logger.error({ err: error, path: req.path }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const client = status < 500;
    const message = client && error.expose ? String(error.message) : client ? 'Bad request' : 'Internal server error';
    const details = showDetails && error instanceof Error ? { detail: error.message, stacktrace: error.stack?.split('\n') } : {};
    res.status(status).json(errorBody(message, client ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR', details));
  };
