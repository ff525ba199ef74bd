import type { DataSource, EntityManager } from 'typeorm';
import { statement, StatementRunner } from '../db/statements';
import { badInput } from '../graphql/errors';
import { defineJob } from '../queue/job';
import type { Queue } from '../queue/queue';
import { pick, selectList } from '../db/columns';
import { SIGNATURE_HEADER, signatureHeader } from './signing';
import { runTimeOf } from './run-partitions';
import { RUN_COLUMNS, RunRow } from './workflow-run.row';
import { WORKFLOW_COLUMNS } from './workflow.row';

/*
 * Completion callbacks (`callbackUrl` of triggerWorkflow and callTeammate). When a run reaches a
 * final status, a job is queued in the transaction that finalizes it (pg-boss, the project's one
 * job mechanism): it exists if and only if the run's end committed, survives restarts, and is
 * retried with exponential backoff until the receiver answers 2xx, for more than an hour. Each
 * attempt is recorded on the run (`WorkflowRun.callback`). Delivery is at least once: a receiver
 * that answered 2xx but whose answer was lost gets the POST again, so receivers key on `runId`.
 */

export interface RunCallbackJob {
  runId: string;
}

export const runCallbackJob = defineJob<RunCallbackJob>({
  name: 'workflows.run-callback',
  options: { retryLimit: 12, retryDelay: 10, retryBackoff: true, expireInSeconds: 120 },
  work: { batchSize: 4, pollingIntervalSeconds: 1 },
});

/** How long the receiver has to answer one POST. */
export const CALLBACK_TIMEOUT_MS = 10_000;
/** Retried for at least this long (the backoff's smallest total). */
export const CALLBACK_RETRY_WINDOW_SECONDS = 3600;
export const MAX_CALLBACK_URL_LENGTH = 2048;

/** What the state machine needs to queue callbacks: the queue and the first retry's delay. */
export interface CallbackQueue {
  queue: Queue;
  /** The first retry waits this long, each next one about twice as long (CALLBACK_RETRY_DELAY_SECONDS). */
  retryDelaySeconds: number;
}

/** Enough retries that the delays add up to the retry window: pg-boss waits delay·2^k·(1 to 2) before retry k + 1. */
export function callbackRetryLimit(retryDelaySeconds: number): number {
  return Math.ceil(Math.log2(CALLBACK_RETRY_WINDOW_SECONDS / retryDelaySeconds + 1));
}

/** Queues the callbacks of these finalized runs in `tx`: they exist if and only if it commits. */
export async function queueCallbacks(callbacks: CallbackQueue, runIds: string[], tx: EntityManager): Promise<void> {
  for (const runId of runIds) {
    await runCallbackJob.send(
      callbacks.queue,
      { runId },
      { tx, retry: { limit: callbackRetryLimit(callbacks.retryDelaySeconds), delaySeconds: callbacks.retryDelaySeconds } },
    );
  }
}

/** `callbackUrl` as given, or BAD_USER_INPUT (before anything is started): only absolute http and https URLs. */
export function checkedCallbackUrl(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const refuse = (why: string) => badInput(`callbackUrl ${why}`, { argument: 'callbackUrl' });
  if (value.length > MAX_CALLBACK_URL_LENGTH) throw refuse(`must be at most ${MAX_CALLBACK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse('must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('must be an http or https URL');
  if (url.username || url.password) throw refuse('must not carry a user name or password');
  return url.href;
}

/** What a callback is made of: the run's end, where it goes, and its workflow's signing secrets. */
const CALLBACK_FIELDS = ['id', 'workflowId', 'status', 'output', 'error', 'finishedAt', 'callbackUrl', 'callbackDeliveredAt'] as const;
type CallbackRow = Pick<RunRow, (typeof CALLBACK_FIELDS)[number]> & { signingSecrets: string[] };

const SQL = {
  read: statement(
    'workflows.callback-run',
    `SELECT ${selectList(pick(RUN_COLUMNS, ...CALLBACK_FIELDS), { from: 'r' })},
            ${selectList(pick(WORKFLOW_COLUMNS, 'signingSecrets'), { from: 'w' })}
       FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
      WHERE r.id = $1 AND ${runTimeOf('r.created_at', '$1::uuid')}`,
  ),
  record: statement(
    'workflows.callback-attempt',
    `UPDATE workflow_runs
        SET callback_attempts = callback_attempts + 1,
            callback_delivered_at = CASE WHEN $2::boolean THEN now() ELSE callback_delivered_at END,
            callback_last_error = $3
      WHERE id = $1 AND ${runTimeOf('created_at', '$1::uuid')}`,
  ),
};

/** Why a POST failed, short enough for `lastError`. */
function describeFailure(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${CALLBACK_TIMEOUT_MS} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/**
 * One delivery attempt (the job's handler): POSTs `{ runId, workflowId, status, output, error,
 * finishedAt }`, signed like http steps with the workflow's secret, records the attempt, and
 * throws when the receiver failed so that pg-boss retries later. A run already delivered, or
 * deleted meanwhile (retention), is done.
 */
export async function deliverCallback(db: DataSource, runId: string): Promise<void> {
  const sql = new StatementRunner(db);
  const run = await sql.first<CallbackRow & Record<string, unknown>>(SQL.read, [runId]);
  if (!run || !run.callbackUrl || run.callbackDeliveredAt) return;
  const url = run.callbackUrl;
  const body = JSON.stringify({
    runId: run.id,
    workflowId: run.workflowId,
    status: run.status,
    output: run.output ?? null,
    error: run.error,
    finishedAt: run.finishedAt,
  });
  let failure: string | null = null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'alloy-workflows',
        'idempotency-key': `${run.id}:callback`,
        ...(run.signingSecrets.length ? { [SIGNATURE_HEADER]: signatureHeader(run.signingSecrets, body) } : {}),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status < 200 || response.status > 299) failure = `the receiver answered HTTP ${response.status}`;
  } catch (error) {
    failure = describeFailure(error);
  }
  await sql.run(SQL.record, [runId, failure === null, failure]);
  if (failure !== null) throw new Error(`callback of run ${runId} to ${url}: ${failure}`);
}
