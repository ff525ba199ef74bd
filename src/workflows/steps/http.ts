import { createParser } from 'eventsource-parser';
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
 * The answer's first MAX_RESPONSE_BYTES, read as they stream in; the rest is never read (the
 * connection is cancelled), so a huge or endless answer costs 1 MB of memory and no more time.
 */
async function readBody(response: Response): Promise<{ body: unknown; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  let truncated = false;
  const reader = response.body?.getReader();
  while (reader && !truncated) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = MAX_RESPONSE_BYTES - received;
    truncated = value.length > room;
    chunks.push(truncated ? value.subarray(0, room) : value);
    received += truncated ? room : value.length;
  }
  if (truncated) await reader?.cancel().catch(() => undefined);
  // A character cut at the limit decodes as U+FFFD; the text stays valid Unicode.
  const text = Buffer.concat(chunks, received).toString('utf8');
  if (text === '') return { body: null, truncated };
  const type = response.headers.get('content-type') ?? '';
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
async function readEventStream(response: Response, onOutput: (data: unknown) => void): Promise<{ body: unknown; truncated: boolean }> {
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
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  while (reader && !truncated) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  if (truncated) await reader?.cancel().catch(() => undefined);
  else parser.feed(decoder.decode() + '\n\n'); // an event not followed by a blank line still counts when the stream ends
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
  let response: Response;
  let body: unknown;
  // Signed exactly as sent: the signature covers these bytes.
  const requestBody = JSON.stringify(context);
  try {
    response = await fetch(step.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream, */*',
        'user-agent': 'alloy-workflows',
        'idempotency-key': `${context.run.id}:${id}`,
        ...(signingSecrets.length ? { [SIGNATURE_HEADER]: signatureHeader(signingSecrets, requestBody) } : {}),
      },
      body: requestBody,
      redirect: 'manual',
      signal: hooks.cancelled ? AbortSignal.any([AbortSignal.timeout(timeoutMs), hooks.cancelled]) : AbortSignal.timeout(timeoutMs),
    });
    const streamed = response.ok && (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
    ({ body, truncated } = streamed ? await readEventStream(response, hooks.onOutput ?? (() => undefined)) : await readBody(response));
  } catch (error) {
    if (hooks.cancelled?.aborted) throw new RunCancelled();
    // By name: the abort error is a DOMException, which is not an Error of every realm.
    const name = (error as { name?: unknown } | null)?.name;
    const reason =
      name === 'TimeoutError' || name === 'AbortError' ? `timed out after ${timeoutMs} ms` : `failed: ${describeFetchError(error)}`;
    const message = storable(`Step "${id}": POST ${step.url} ${reason}`);
    throw new StepFailed(message, done(undefined, null, message));
  }
  if (response.status < 200 || response.status > 299) {
    const excerpt = typeof body === 'string' ? body : JSON.stringify(body);
    const message = storable(
      `Step "${id}": POST ${step.url} answered HTTP ${response.status}${excerpt && excerpt !== 'null' ? `: ${excerpt.slice(0, ERROR_BODY_EXCERPT)}` : ''}`,
    );
    throw new StepFailed(message, done(response.status, body, message));
  }
  return done(response.status, body);
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
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
