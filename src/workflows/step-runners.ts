import { DEFAULT_HTTP_TIMEOUT_MS, HttpStep, TransformStep, WorkflowStep } from './definition';
import type { StepResult } from './workflow-run.entity';
import { renderTemplate } from './template';

/** What steps see: the run, its payload and the results of the steps run so far. */
export interface RunContext {
  run: { id: string; workflowId: string };
  payload: unknown;
  steps: Record<string, StepResult>;
}

export class StepFailed extends Error {
  constructor(message: string, readonly result: StepResult) {
    super(message);
    this.name = 'StepFailed';
  }
}

/** Answers larger than this are cut (the run keeps a record, not an archive). */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const ERROR_BODY_EXCERPT = 500;

async function readBody(response: Response): Promise<unknown> {
  const bytes = Buffer.from(await response.arrayBuffer());
  const text = bytes.subarray(0, MAX_RESPONSE_BYTES).toString('utf8');
  if (text === '') return null;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json') || /^\s*[[{"]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all: keep the text
    }
  }
  return text;
}

/**
 * POSTs the run's context as JSON and records the answer's status and body. Any status other than
 * 2xx fails the step; so do a timeout and a network error. Redirects are not followed (a 3xx fails).
 * The `idempotency-key` header (run id and step id) lets the target recognise a retried step.
 */
async function runHttp(id: string, step: HttpStep, context: RunContext): Promise<StepResult> {
  const startedAt = new Date().toISOString();
  const timeoutMs = step.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const done = (status: number | undefined, output: unknown, error?: string): StepResult => ({
    type: 'http',
    ...(status === undefined ? {} : { status }),
    output,
    ...(error ? { error } : {}),
    startedAt,
    finishedAt: new Date().toISOString(),
  });
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(step.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, */*',
        'user-agent': 'alloy-workflows',
        'idempotency-key': `${context.run.id}:${id}`,
      },
      body: JSON.stringify(context),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    body = await readBody(response);
  } catch (error) {
    // By name: the abort error is a DOMException, which is not an Error of every realm.
    const name = (error as { name?: unknown } | null)?.name;
    const reason =
      name === 'TimeoutError' || name === 'AbortError'
        ? `timed out after ${timeoutMs} ms`
        : `failed: ${describeFetchError(error)}`;
    const message = `Step "${id}": POST ${step.url} ${reason}`;
    throw new StepFailed(message, done(undefined, null, message));
  }
  if (response.status < 200 || response.status > 299) {
    const excerpt = typeof body === 'string' ? body : JSON.stringify(body);
    const message = `Step "${id}": POST ${step.url} answered HTTP ${response.status}${
      excerpt && excerpt !== 'null' ? `: ${excerpt.slice(0, ERROR_BODY_EXCERPT)}` : ''
    }`;
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

/** Runs one step; throws StepFailed (with the step's record) when the step fails. */
export async function runStep(id: string, step: WorkflowStep, context: RunContext): Promise<StepResult> {
  return step.type === 'http' ? runHttp(id, step, context) : runTransform(id, step, context);
}
