import { createParser } from 'eventsource-parser';
import { DEFAULT_HTTP_TIMEOUT_MS, HttpStep, TransformStep, WorkflowStep } from './definition';
import type { StepResult } from './workflow-run.entity';
import type { ConversationContext } from './conversation-context';
import type { ContextFile } from './run-files';
import { signatureHeader, SIGNATURE_HEADER } from './signing';
import { renderTemplate } from './template';

/**
 * What steps see: the run, its payload and the results of the steps run so far; a teammate's turn
 * also its conversation, and a run given files those files with signed links.
 */
export interface RunContext {
  run: { id: string; workflowId: string };
  payload: unknown;
  steps: Record<string, StepResult>;
  conversation?: ConversationContext;
  files?: ContextFile[];
}

/** What the executor gives a step beside its context: its cancellation and where streamed output goes. */
export interface StepHooks {
  /** Aborted when the run is cancelled: the request in flight is aborted and the step throws RunCancelled. */
  cancelled?: AbortSignal;
  /** Each piece of a streamed (`text/event-stream`) answer, as it arrives. */
  onOutput?: (data: unknown) => void;
}

/** The run was cancelled while the step ran; nothing more is written for it. */
export class RunCancelled extends Error {
  constructor() {
    super('The run was cancelled');
    this.name = 'RunCancelled';
  }
}

export class StepFailed extends Error {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message);
    this.name = 'StepFailed';
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

/** Step errors end up in a text column, which cannot hold NUL, and in JSON answers. */
const storable = (message: string): string => message.replaceAll('\u0000', '\\u0000').toWellFormed();

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

function runTransform(_id: string, step: TransformStep, context: RunContext): StepResult {
  const startedAt = new Date().toISOString();
  const output = renderTemplate(step.output, context);
  return { type: 'transform', output, startedAt, finishedAt: new Date().toISOString() };
}

/**
 * Runs one step; throws StepFailed (with the step's record) when the step fails. An http step's
 * request is signed with each of `signingSecrets` (the workflow's current one first).
 */
export async function runStep(
  id: string,
  step: WorkflowStep,
  context: RunContext,
  signingSecrets: readonly string[] = [],
  hooks: StepHooks = {},
): Promise<StepResult> {
  return step.type === 'http' ? runHttp(id, step, context, signingSecrets, hooks) : runTransform(id, step, context);
}
