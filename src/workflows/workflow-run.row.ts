import { Columns, pick } from '../db/columns';
import type { StoredRunFiles } from './run-files';
import type { StepResult } from './steps/step-type';
import type { WorkflowRun, WorkflowRunStatus } from './workflow-run.type';

/** A row of `workflow_runs` as statements read it (RUN_COLUMNS). */
export interface RunRow {
  id: string;
  organizationId: string;
  workflowId: string;
  /** The workflow's version the run executes (its definition is read from workflow_versions). */
  workflowVersion: number;
  /** The API key that started the run. */
  apiKeyId: string | null;
  status: WorkflowRunStatus;
  payload: unknown;
  output: unknown;
  error: string | null;
  /** Each executed step by id (column step_results). */
  steps: Record<string, StepResult>;
  /** The step to run next; progress survives a worker that stops or dies between steps. */
  nextStep: string | null;
  /** Fencing token of the worker that holds the run; a worker whose lease was taken writes nothing. */
  leaseToken: string | null;
  /** How many status changes the run has had (1 at insert); announced with each (see run-events.ts). */
  statusSeq: number;
  /** The number of its last stored event (run-event-log.ts). */
  eventSeq: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The run this one is a rerun of (column rerun_of). */
  rerunOfId: string | null;
  callbackUrl: string | null;
  callbackAttempts: number;
  callbackDeliveredAt: Date | null;
  callbackLastError: string | null;
  conversationId: string | null;
  /** What the run was given at start (run-files.ts). */
  files: StoredRunFiles | null;
}

/**
 * The one list of the columns of `workflow_runs` that are read, each as the field it is read into:
 * the run itself, the executor's claim, callbacks, announcements, a conversation's turns and
 * messages, and a teammate's request logs select their parts of it.
 */
export const RUN_COLUMNS: Columns<RunRow> = {
  id: 'id',
  organizationId: 'organization_id',
  workflowId: 'workflow_id',
  workflowVersion: 'workflow_version',
  apiKeyId: 'api_key_id',
  status: 'status',
  payload: 'payload',
  output: 'output',
  error: 'error',
  steps: 'step_results',
  nextStep: 'next_step',
  leaseToken: 'lease_token',
  statusSeq: 'status_seq',
  eventSeq: 'event_seq',
  createdAt: 'created_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  rerunOfId: 'rerun_of',
  callbackUrl: 'callback_url',
  callbackAttempts: 'callback_attempts',
  callbackDeliveredAt: 'callback_delivered_at',
  callbackLastError: 'callback_last_error',
  conversationId: 'conversation_id',
  files: 'files',
};

/** What a `WorkflowRun` (the GraphQL type) is read with. */
export const RUN_TYPE_COLUMNS: Columns<Omit<WorkflowRun, 'workflow'>> = pick(
  RUN_COLUMNS,
  'id',
  'organizationId',
  'workflowId',
  'workflowVersion',
  'status',
  'payload',
  'output',
  'error',
  'steps',
  'statusSeq',
  'createdAt',
  'startedAt',
  'finishedAt',
  'rerunOfId',
  'callbackUrl',
  'callbackAttempts',
  'callbackDeliveredAt',
  'callbackLastError',
  'conversationId',
  'files',
);
