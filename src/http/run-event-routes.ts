import type { Request, RequestHandler, Response } from 'express';
import { Router } from 'express';
import type { Principal } from '../auth/auth.service';
import { principalOf } from '../auth/authenticate-request';
import { AppError } from '../graphql/errors';
import type { Logger } from '../observability/logger';
import type { OrganizationWorkflows } from '../workflows/organization-workflows';
import type { RunEventStream } from '../workflows/run-event-stream';
import { errorBody } from './error-handlers';
import { httpStatusOf } from './error-status';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/** What the route uses of the caller's organization scope (src/app/organization-scope.ts, `ctx.org` of GraphQL). */
export interface RunEventRouteScope {
  workflows: OrganizationWorkflows;
}

export interface RunEventRouteServices {
  forOrganization(principal: Principal): RunEventRouteScope;
}

/** The seq to resume after: `Last-Event-ID` (what EventSource sends on reconnect), else `?after=`, else 0. */
function resumeAfter(req: Request): number | 'invalid' {
  const header = req.headers['last-event-id'];
  const raw =
    typeof header === 'string' && header.trim() !== '' ? header.trim() : typeof req.query.after === 'string' ? req.query.after : '0';
  return /^\d{1,9}$/.test(raw) ? Number(raw) : 'invalid';
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json(errorBody(message, code));
}

/**
 * `GET /runs/:id/events`: `workflowRunEvents` for clients without GraphQL, as `text/event-stream`
 * (`curl -N`, a browser's EventSource): each event is `id: <seq>`, `event: <type>` and `data:`
 * the RunEvent as JSON; `Last-Event-ID` (or `?after=`) resumes after that seq; the answer ends
 * after the final STATUS event. Refusals (no or bad key, another organization's run) are JSON in
 * the GraphQL error shape, like the file route's.
 */
export function runEventRouter(services: RunEventRouteServices, authentication: RequestHandler, logger: Logger): Router {
  const router = Router();
  router.get('/runs/:id/events', authentication, async (req, res) => {
    let principal;
    try {
      principal = principalOf(res);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      return sendError(res, httpStatusOf(error) ?? 400, error.code, error.message);
    }
    if (!principal) return sendError(res, 401, 'UNAUTHENTICATED', 'Send the organization API key in the `api-key` header');
    const after = resumeAfter(req);
    if (after === 'invalid') return sendError(res, 400, 'BAD_USER_INPUT', 'Last-Event-ID (or after) must be an event seq: a whole number');
    let stream: RunEventStream;
    try {
      stream = await services.forOrganization(principal).workflows.followRunEvents(String(req.params.id), after);
    } catch (error) {
      if (error instanceof AppError) return sendError(res, 404, error.code, error.message);
      logger.error({ err: error, runId: req.params.id }, 'run event stream failed to start');
      return sendError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    const gone = () => void stream.return();
    res.on('close', gone);
    try {
      for await (const event of stream) {
        res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      }
    } catch (error) {
      // Headers are out: the stream ends without its final event, and the client resumes with Last-Event-ID.
      logger.error({ err: error, runId: req.params.id }, 'run event stream failed');
    } finally {
      clearInterval(keepalive);
      res.off('close', gone);
      res.end();
    }
  });
  return router;
}
