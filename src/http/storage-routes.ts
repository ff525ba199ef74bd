import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { create as contentDisposition } from 'content-disposition';
import { Request, RequestHandler, Response, Router } from 'express';
import { graphqlUploadExpress } from 'graphql-upload-minimal';
import type { Principal } from '../auth/auth.service';
import { principalOf } from '../auth/authenticate-request';
import { AppError } from '../graphql/errors';
import { errorBody } from './error-handlers';
import type { ReadinessCheck } from '../observability/readiness';
import type { Logger } from '../observability/logger';
import type { ByteRange } from '../storage/backend/driver';
import type { OrganizationStorage } from '../storage/organization-storage';
import type { Storage } from '../storage/storage';
import type { StorageEntry } from '../storage/storage-entry';
import { guardUploads, multipartInputError } from './multipart-input';
import { httpStatusOf } from './error-status';

/** Size cap of the `operations` and `map` multipart fields (the GraphQL document and variables). */
const MAX_MULTIPART_FIELD_BYTES = 64 * 1024;
/** Boundaries, part headers and the two JSON fields around the one file a request may carry. */
const MULTIPART_OVERHEAD_BYTES = 2 * MAX_MULTIPART_FIELD_BYTES + 16 * 1024;

/** Headers describing the file, dropped when an error is answered instead. */
const FILE_HEADERS = [
  'etag',
  'last-modified',
  'cache-control',
  'accept-ranges',
  'content-type',
  'content-disposition',
  'content-range',
  'content-length',
];

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json(errorBody(message, code));
}

/**
 * Refuses a multipart request at once when its declared length cannot fit the limit, without
 * reading the body; the upload's own byte count covers requests without Content-Length or that
 * lie about it.
 */
function declaredLengthLimit(storage: Storage): RequestHandler {
  const size = storage.uploads.size;
  return (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (req.is('multipart/form-data') && Number.isFinite(declared) && size.refusesRequestOf(declared, MULTIPART_OVERHEAD_BYTES)) {
      // Closing the connection stops the client from sending the rest.
      res.setHeader('connection', 'close');
      const error = size.refuse();
      sendError(res, httpStatusOf(error) ?? 413, error.code, error.message);
      return;
    }
    next();
  };
}

/** Apollo's CSRF rule for multipart requests: one of the preflight-forcing headers, non-empty. */
function carriesPreflightHeader(req: Request, preflightHeaders: readonly string[]): boolean {
  return preflightHeaders.some((name) => {
    const value = req.headers[name];
    return typeof value === 'string' && value.length > 0;
  });
}

/**
 * The GraphQL multipart request parser, hardened for malformed bodies: every parser failure is a
 * 4xx in the GraphQL error shape (busboy's own errors carry no status), and the parser always has
 * an `error` listener (graphql-upload-minimal listens once, and a broken body can make busboy emit
 * twice, which would otherwise crash the process). The file's size is not its business: the upload
 * counts the bytes as they stream (UploadSizeLimit).
 */
function multipartParser(preflightHeaders: readonly string[]): RequestHandler {
  const parse = graphqlUploadExpress({ maxFiles: 1, maxFieldSize: MAX_MULTIPART_FIELD_BYTES });
  return (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    // Without a preflight-forcing header Apollo refuses the request as CSRF; don't parse it first.
    if (!carriesPreflightHeader(req, preflightHeaders)) return next();
    const pipe = req.pipe.bind(req);
    req.pipe = ((destination: NodeJS.WritableStream, options?: { end?: boolean }) => {
      destination.on('error', () => undefined);
      return pipe(destination, options);
    }) as typeof req.pipe;
    parse(req, res, (error?: unknown) => {
      if (!error) {
        guardUploads(req.body);
        return next();
      }
      if (res.headersSent) return;
      const refused = multipartInputError(error);
      sendError(res, httpStatusOf(refused) ?? 400, refused.code, refused.message);
    });
  };
}

/**
 * Middleware for POST /graphql: declared-length check, then the GraphQL multipart request parser
 * (only for requests that carry one of Apollo's CSRF `preflightHeaders`).
 */
export function uploadMiddleware(storage: Storage, preflightHeaders: readonly string[]): RequestHandler[] {
  return [declaredLengthLimit(storage), multipartParser(preflightHeaders)];
}

export function storageReadiness(storage: Storage): ReadinessCheck {
  return { name: 'storage', check: () => storage.driver.check() };
}

/** What the content route uses of the caller's organization scope (src/app/organization-scope.ts, `ctx.org` of GraphQL). */
export interface ContentRouteScope {
  storage: OrganizationStorage;
}

export interface ContentRouteServices {
  /** What a signed URL, which names no organization, is served with. */
  storage: Storage;
  forOrganization(principal: Principal): ContentRouteScope;
}

/** What the content route serves: a file as it is now, or one of its versions (`?etag=<version id>`). */
interface ServedContent {
  id: string;
  name: string;
  objectKey: string;
  contentType: string | null;
  /** Null for a version known by its etag alone (olderVersion): size and type unknown. */
  size: number | null;
  etag: string;
  modifiedAt: Date;
}

/**
 * The file as it was when its bytes were `etag`, when no version row tells it any more (a run's
 * link, signed with that etag, to bytes a run still holds after the version expired): uploads key
 * their object by the id the etag is made of, so the object is `<orgId>/<that id>`. Its size and
 * type are the run's to know (its `files`), not the row's: the answer carries neither (no
 * Content-Length, no Range, `application/octet-stream`).
 */
function olderVersion(row: StorageEntry, etag: string): ServedContent | null {
  const hex = /^[0-9a-f]{32}$/.exec(etag)?.[0];
  if (!hex) return null;
  const objectId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return {
    id: row.id,
    name: row.name,
    objectKey: `${row.organizationId}/${objectId}`,
    etag,
    size: null,
    contentType: null,
    modifiedAt: row.updatedAt,
  };
}

/** The file (or version of it) the request may read, or an HTTP answer already sent. */
async function authorizedFile(services: ContentRouteServices, req: Request, res: Response): Promise<ServedContent | null> {
  const id = String(req.params.id);
  const etag = typeof req.query.etag === 'string' ? req.query.etag : undefined;
  const { storage } = services;
  const { reads, downloads } = storage;
  const hasKey = typeof req.headers['api-key'] === 'string' && req.headers['api-key'].trim() !== '';
  let row: StorageEntry | null;
  if (hasKey) {
    let principal;
    try {
      principal = principalOf(res);
    } catch (error) {
      if (error instanceof AppError) {
        sendError(res, httpStatusOf(error) ?? 400, error.code, error.message);
        return null;
      }
      throw error;
    }
    row = principal ? await services.forOrganization(principal).storage.findById(id) : null;
  } else if (typeof req.query.signature === 'string' && typeof req.query.expires === 'string') {
    if (!(await downloads.verifySignature(id, req.query.expires, req.query.signature, etag))) {
      sendError(res, 403, 'FORBIDDEN', 'The download URL is invalid or has expired; ask for a new downloadUrl');
      return null;
    }
    row = await reads.findFileById(id);
  } else {
    sendError(res, 401, 'UNAUTHENTICATED', 'Send the organization API key in the `api-key` header, or use a signed downloadUrl');
    return null;
  }
  if (!row || row.kind !== 'file') {
    sendError(res, 404, 'NOT_FOUND', 'File not found');
    return null;
  }
  const current: ServedContent = {
    id: row.id,
    name: row.name,
    objectKey: row.objectKey!,
    contentType: row.contentType,
    size: Number(row.size),
    etag: row.etag!,
    modifiedAt: row.updatedAt,
  };
  if (etag === undefined || etag === row.etag) return current;
  const kept = await storage.versions.find(row.id, etag);
  if (kept) return { ...current, ...kept, size: Number(kept.size), modifiedAt: kept.createdAt };
  // Only a link signed for this etag reaches bytes that no version lists any more.
  const older = hasKey ? null : olderVersion(row, etag);
  if (!older) sendError(res, 404, 'NOT_FOUND', 'File version not found');
  return older;
}

/**
 * The one byte range a request asks for and may get: null for the whole body (no Range, a
 * malformed or multi-range one, or an If-Range naming another version), 'unsatisfiable' for 416.
 */
function requestedRange(req: Request, size: number, etag: string): ByteRange | null | 'unsatisfiable' {
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && ifRange !== etag) return null;
  const ranges = req.range(size, { combine: true });
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === undefined || ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return null;
  return ranges[0];
}

/** The bytes of a version the file no longer has (olderVersion); 404 once they are no longer kept. */
async function sendOlderVersion(storage: Storage, file: ServedContent, res: Response): Promise<void> {
  let stream;
  try {
    stream = await storage.downloads.open({
      id: file.id,
      name: file.name,
      objectKey: file.objectKey!,
      contentType: 'application/octet-stream',
    });
    await once(stream, 'readable');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT' && (error as { code?: unknown }).code !== 404) throw error;
    stream?.destroy();
    sendError(res, 404, 'NOT_FOUND', 'That version of the file is no longer kept');
    return;
  }
  res.status(200);
  res.setHeader('ETag', `"${file.etag}"`);
  res.setHeader('Cache-Control', 'private, no-cache');
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Disposition', contentDisposition(file.name));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  await pipeline(stream, res);
}

/**
 * `GET /files/:id/content`: the bytes, with Range (206), ETag/If-None-Match (304) and the file name.
 * `authentication` (authenticateRequests) reads the key, if any, and spends from its rate limit.
 */
export function contentRouter(services: ContentRouteServices, authentication: RequestHandler, logger: Logger): Router {
  const { storage } = services;
  const router = Router();
  router.get('/files/:id/content', authentication, async (req, res) => {
    try {
      const file = await authorizedFile(services, req, res);
      if (!file) return;
      if (file.size === null) {
        await sendOlderVersion(storage, file, res);
        return;
      }
      const size = file.size;
      const etag = `"${file.etag}"`;
      res.setHeader('ETag', etag);
      res.setHeader('Last-Modified', new Date(file.modifiedAt).toUTCString());
      res.setHeader('Cache-Control', 'private, no-cache');
      res.setHeader('Accept-Ranges', 'bytes');
      // Against the ETag and Last-Modified just set.
      if (req.fresh) {
        res.status(304).end();
        return;
      }
      const range = requestedRange(req, size, etag);
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${size}`);
        sendError(res, 416, 'RANGE_NOT_SATISFIABLE', `The file has ${size} bytes`);
        return;
      }
      const stream = await storage.downloads.open(
        { ...file, contentType: file.contentType ?? 'application/octet-stream' },
        range ?? undefined,
      );
      res.setHeader('Content-Type', file.contentType ?? 'application/octet-stream');
      res.setHeader('Content-Disposition', contentDisposition(file.name));
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (range) {
        res.status(206);
        res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
        res.setHeader('Content-Length', String(range.end - range.start + 1));
      } else {
        res.status(200);
        res.setHeader('Content-Length', String(size));
      }
      if (req.method === 'HEAD') {
        stream.destroy();
        res.end();
        return;
      }
      // A backend that fails at once (not found, unreachable) still gets a JSON answer: the status
      // line is sent only when the first bytes (or the end) are there.
      await once(stream, 'readable');
      await pipeline(stream, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error as Error);
        return;
      }
      for (const header of FILE_HEADERS) res.removeHeader(header);
      // e.g. the backend is unreachable; the detail goes to the log, not to the client.
      logger.error({ err: error, fileId: req.params.id }, 'file content failed');
      sendError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
    }
  });
  return router;
}
