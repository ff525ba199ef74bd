import express, { RequestHandler } from 'express';

const PLAIN_JSON = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);

interface BodyError extends Error {
  status: number;
  statusCode: number;
  type: string;
  expose: boolean;
}

const bodyError = (status: number, type: string, message: string): BodyError =>
  Object.assign(status === 400 && type === 'entity.parse.failed' ? new SyntaxError(message) : new Error(message), {
    status,
    statusCode: status,
    type,
    expose: true,
  });

/**
 * `express.json({ limit })` with a short path for what GraphQL clients send: an uncompressed
 * UTF-8 JSON POST with a Content-Length within the limit. body-parser's general machinery
 * (charset negotiation, inflation streams, raw-body) was a visible share of a small query's cost
 * (see BENCHMARKS.md). Every other request goes to express.json itself, and errors carry
 * body-parser's `status`/`type`, so callers see the same answers either way.
 */
export function jsonBody(limitBytes: number): RequestHandler {
  const general = express.json({ limit: limitBytes });
  return (req, res, next) => {
    const type = req.headers['content-type'];
    const length = Number(req.headers['content-length']);
    if (
      req.method !== 'POST' ||
      type === undefined ||
      !PLAIN_JSON.has(type.toLowerCase()) ||
      req.headers['content-encoding'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined ||
      !(length > 0 && length <= limitBytes) ||
      req.readableEnded
    ) {
      general(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (error) return next(error);
      if (received !== length) return next(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
      let text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received)).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (parseError) {
        return next(bodyError(400, 'entity.parse.failed', (parseError as Error).message));
      }
      // body-parser's strict mode: only objects and arrays.
      if (typeof body !== 'object' || body === null)
        return next(bodyError(400, 'entity.parse.failed', 'JSON body must be an object or an array'));
      req.body = body;
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish());
    req.once('aborted', () => finish(bodyError(400, 'request.aborted', 'request aborted')));
    req.once('error', (error) => finish(bodyError(400, 'request.aborted', error.message)));
  };
}
