import { createParser } from 'eventsource-parser';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { finished, pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { signatureHeader, SIGNATURE_HEADER } from '../signing';
import { RunCancelled, RunContext, StepFailed, StepHooks, StepResult, StepType, storable } from './step-type';

/** POSTs the run's context as JSON to `url` (signed), and records the answer. */
export interface HttpStep {
  type: 'http';
  url: string;
  next?: string;
  timeoutMs?: number;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
export const MAX_HTTP_TIMEOUT_MS = 60_000;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Answers larger than this are cut (the run keeps a record, not an archive). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
const ERROR_BODY_EXCERPT = 500;

/**
 * A POST with node:http(s): the answer's status and headers, its body as a stream. Not fetch: a
 * streamed answer read through fetch's web streams cost twice the CPU per piece (about 150
 * against 70 µs per server-sent event, 33 streams at 50 pieces/s each: BENCHMARKS.md, run-events),
 * and a worker reads every piece of every run it executes. Like fetch's `redirect: 'manual'`, a
 * redirect is an answer (a 3xx fails the step). `signal` aborts the request and the reading of its
 * body.
 */
function post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const request = client.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      signal,
    });
    request.on('response', (response) => {
      // An abort after the answer began destroys the request: the body's reader sees it end early.
      resolve(response);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** An answer's body as it arrives, and how to stop reading it (closing the connection). */
interface Body {
  stream: Readable;
  close(): void;
}

/** The body's bytes, decoded when the target compressed them although it was not asked to. */
function bodyOf(response: IncomingMessage): Body {
  const encoding = String(response.headers['content-encoding'] ?? '').toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  if (!decoder) return { stream: response, close: () => response.destroy() };
  // An answer cut short (or failing) fails the decoder too, so that its reader sees the early end.
  pipeline(response, decoder, () => undefined);
  return {
    stream: decoder,
    close: () => {
      response.destroy();
      decoder.destroy();
    },
  };
}

/**
 * Reads the body chunk by chunk until it ends; `onChunk` answers false to stop reading (the
 * connection is closed). Rejects when the body ends early (an abort, a connection cut).
 */
function readChunks(body: Body, onChunk: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopped = false;
    const stop = (error?: unknown) => {
      stopped = true;
      body.close();
      if (error === undefined) resolve();
      else reject(error);
    };
    body.stream.on('data', (chunk: Buffer) => {
      if (stopped) return;
      try {
        if (!onChunk(chunk)) stop();
      } catch (error) {
        stop(error);
      }
    });
    finished(body.stream, (error) => (stopped ? undefined : error ? reject(error) : resolve()));
  });
}

/**
 * The answer's first MAX_RESPONSE_BYTES, read as they stream in; the rest is never read (the
 * connection is closed), so a huge or endless answer costs 1 MB of memory and no more time.
 */
async function readBody(response: IncomingMessage): Promise<{ body: unknown; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let received = 0;
  let truncated = false;
  await readChunks(bodyOf(response), (chunk) => {
    const room = MAX_RESPONSE_BYTES - received;
    truncated = chunk.length > room;
    chunks.push(truncated ? chunk.subarray(0, room) : chunk);
    received += truncated ? room : chunk.length;
    return !truncated;
  });
  // A character cut at the limit decodes as U+FFFD; the text stays valid Unicode.
  const text = Buffer.concat(chunks, received).toString('utf8');
  if (text === '') return { body: null, truncated };
  const type = String(response.headers['content-type'] ?? '');
  if (!truncated && (type.includes('json') || /^\s*[[{"]/.test(text))) {
    try {
      return { body: JSON.parse(text), truncated };
    } catch {
      // not JSON after all: keep the text
    }
  }
  return { body: text, truncated };
}

/** A server-sent event's data: JSON when it is JSON, else the text. */
function eventData(text: string): unknown {
  if (/^\s*[[{"\d\-tfn]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
  }
  return text;
}

/**
 * A `text/event-stream` answer, read as it arrives (eventsource-parser splits the events): each
 * event's data goes to `onOutput` at once, and the step's output is the data of the event named
 * `result`, else the list of every event's data. Past MAX_RESPONSE_BYTES of data the rest is not
 * read (the connection is cancelled) and the output is what came before, marked truncated.
 */
async function readEventStream(
  response: IncomingMessage,
  onOutput: (data: unknown) => void,
): Promise<{ body: unknown; truncated: boolean }> {
  const pieces: unknown[] = [];
  let result: { data: unknown } | undefined;
  let received = 0;
  let truncated = false;
  const parser = createParser({
    onEvent(event) {
      if (truncated) return;
      received += Buffer.byteLength(event.data);
      if (received > MAX_RESPONSE_BYTES) {
        truncated = true;
        return;
      }
      const data = eventData(event.data);
      pieces.push(data);
      if (event.event === 'result') result = { data };
      onOutput(data);
    },
    // An event whose data alone passes the cap can never be kept.
    maxBufferSize: MAX_RESPONSE_BYTES,
    onError(error) {
      if (error.type === 'max-buffer-size-exceeded') truncated = true;
    },
  });
  const decoder = new TextDecoder();
  await readChunks(bodyOf(response), (chunk) => {
    parser.feed(decoder.decode(chunk, { stream: true }));
    return !truncated;
  });
  if (!truncated) parser.feed(decoder.decode() + '\n\n'); // an event not followed by a blank line still counts when the stream ends
  return { body: result ? result.data : pieces, truncated };
}

/**
 * POSTs the run's context as JSON and records the answer's status and body. Any status other than
 * 2xx fails the step; so do a timeout and a network error. Redirects are not followed (a 3xx fails).
 * The `idempotency-key` header (run id and step id) lets the target recognise a retried step.
 */
async function runHttp(
  id: string,
  step: HttpStep,
  context: RunContext,
  signingSecrets: readonly string[],
  hooks: StepHooks,
): Promise<StepResult> {
  const startedAt = new Date().toISOString();
  const timeoutMs = step.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  let truncated = false;
  const done = (status: number | undefined, output: unknown, error?: string): StepResult => ({
    type: 'http',
    ...(status === undefined ? {} : { status }),
    output,
    ...(truncated ? { truncated } : {}),
    ...(error ? { error } : {}),
    startedAt,
    finishedAt: new Date().toISOString(),
  });
  let response: IncomingMessage;
  let body: unknown;
  // Signed exactly as sent: the signature covers these bytes.
  const requestBody = JSON.stringify(context);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    response = await post(
      step.url,
      {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream, */*',
        'user-agent': 'alloy-workflows',
        'idempotency-key': `${context.run.id}:${id}`,
        ...(signingSecrets.length ? { [SIGNATURE_HEADER]: signatureHeader(signingSecrets, requestBody) } : {}),
      },
      requestBody,
      hooks.cancelled ? AbortSignal.any([timeout, hooks.cancelled]) : timeout,
    );
    const ok = response.statusCode! >= 200 && response.statusCode! <= 299;
    const streamed =
      ok &&
      String(response.headers['content-type'] ?? '')
        .toLowerCase()
        .startsWith('text/event-stream');
    ({ body, truncated } = streamed ? await readEventStream(response, hooks.onOutput ?? (() => undefined)) : await readBody(response));
  } catch (error) {
    if (hooks.cancelled?.aborted) throw new RunCancelled();
    // The signal, not the error: an abort while the body streams surfaces as the body's early end.
    const reason = timeout.aborted ? `timed out after ${timeoutMs} ms` : `failed: ${describeRequestError(error)}`;
    const message = storable(`Step "${id}": POST ${step.url} ${reason}`);
    throw new StepFailed(message, done(undefined, null, message));
  }
  const status = response.statusCode!;
  if (status < 200 || status > 299) {
    const excerpt = typeof body === 'string' ? body : JSON.stringify(body);
    const message = storable(
      `Step "${id}": POST ${step.url} answered HTTP ${status}${excerpt && excerpt !== 'null' ? `: ${excerpt.slice(0, ERROR_BODY_EXCERPT)}` : ''}`,
    );
    throw new StepFailed(message, done(status, body, message));
  }
  return done(status, body);
}

/** A connection error's code (ECONNREFUSED, ENOTFOUND, ECONNRESET…), else its message. */
function describeRequestError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  return error instanceof Error ? error.message : String(error);
}

export const httpStep: StepType<HttpStep> = {
  type: 'http',
  keys: ['type', 'url', 'next', 'timeoutMs'],
  check(step, { at, problems }) {
    if (typeof step.url !== 'string' || !isHttpUrl(step.url)) problems.push(`${at}.url: required, an absolute http:// or https:// URL`);
    if (
      step.timeoutMs !== undefined &&
      (typeof step.timeoutMs !== 'number' ||
        !Number.isInteger(step.timeoutMs) ||
        step.timeoutMs < 1 ||
        step.timeoutMs > MAX_HTTP_TIMEOUT_MS)
    ) {
      problems.push(`${at}.timeoutMs: a whole number of milliseconds from 1 to ${MAX_HTTP_TIMEOUT_MS}`);
    }
  },
  longestSeconds: (step) => Math.ceil((step.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS) / 1000),
  run: runHttp,
};
