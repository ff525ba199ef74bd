import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { ErrorRequestHandler, RequestHandler } from 'express';
import { GraphQLRoute, RouteHandler } from '../../src/http/graphql-route';

/** The `/graphql` route's handlers, run in order without Express's router, on a real server. */
describe('GraphQLRoute', () => {
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use((_req, res) => void res.status(200).json({ servedBy: 'app' }));

  const serve = async (handlers: RouteHandler[]) => {
    const route = new GraphQLRoute(app, handlers);
    const server = http.createServer((req, res) => (route.matches(req) ? route.handle(req, res) : app(req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, close: () => new Promise((resolve) => server.close(resolve)) };
  };

  it('takes /graphql and every path under it, in any case, as Express mounts a path; nothing else', () => {
    const route = new GraphQLRoute(app, []);
    const takes = (url: string) => route.matches({ url } as http.IncomingMessage);
    for (const url of ['/graphql', '/graphql?query={a}', '/GraphQL', '/graphql/', '/graphql/_ruru/x.js', 'http://host:4000/graphql']) {
      expect([url, takes(url)]).toEqual([url, true]);
    }
    for (const url of ['/graphqlx', '/graphq', '/', '/files/graphql', '/healthz', 'http://host/other', '*']) {
      expect([url, takes(url)]).toEqual([url, false]);
    }
  });

  it("gives the handlers Express's request and response, and runs them in order", async () => {
    const seen: string[] = [];
    const first: RequestHandler = (req, res, next) => {
      seen.push(`first ${req.method} ${req.path} ${req.ip}`);
      res.locals.mark = 'set by first';
      next();
    };
    const skippedWithoutError: ErrorRequestHandler = (_error, _req, _res, next) => {
      seen.push('error handler without an error');
      next();
    };
    const last: RequestHandler = (req, res) => {
      res.status(201).json({ accepts: req.accepts(['application/json']), mark: res.locals.mark, is: req.is('application/json') });
    };
    const { url, close } = await serve([first, skippedWithoutError, last]);
    try {
      const res = await fetch(`${url}/graphql?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ accepts: 'application/json', mark: 'set by first', is: 'application/json' });
      expect(seen).toEqual(['first POST /graphql 127.0.0.1']);
      // Other paths are the app's.
      expect(await (await fetch(`${url}/graphqlx`)).json()).toEqual({ servedBy: 'app' });
    } finally {
      await close();
    }
  });

  it('passes a thrown error and a rejected promise to the next error handler, skipping the others', async () => {
    const calls: string[] = [];
    const failing: RequestHandler = (req) => {
      if (req.query.how === 'throw') throw Object.assign(new Error('thrown'), { status: 418 });
      return Promise.reject(Object.assign(new Error('rejected'), { status: 409 })) as never;
    };
    const skippedOnError: RequestHandler = (_req, _res, next) => {
      calls.push('plain handler after an error');
      next();
    };
    const answer: ErrorRequestHandler = (error, _req, res, _next) => {
      res.status(error.status).json({ message: error.message });
    };
    const { url, close } = await serve([failing, skippedOnError, answer]);
    try {
      const thrown = await fetch(`${url}/graphql?how=throw`, { method: 'POST' });
      expect([thrown.status, await thrown.json()]).toEqual([418, { message: 'thrown' }]);
      const rejected = await fetch(`${url}/graphql?how=reject`, { method: 'POST' });
      expect([rejected.status, await rejected.json()]).toEqual([409, { message: 'rejected' }]);
      expect(calls).toEqual([]);
    } finally {
      await close();
    }
  });

  it('answers 404 in the GraphQL error shape when every handler passes the request on', async () => {
    const passOn: RequestHandler = (_req, _res, next) => next();
    const { url, close } = await serve([passOn]);
    try {
      const res = await fetch(`${url}/graphql/nothing`, { method: 'PUT' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ errors: [{ message: 'Cannot PUT /graphql/nothing', extensions: { code: 'NOT_FOUND' } }] });
    } finally {
      await close();
    }
  });
});
