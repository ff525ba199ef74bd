import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { JSONScalar } from '../graphql/scalars';
import type { StoredRunFiles } from './run-files';
import type { StepResult } from './steps/step-type';
import { Workflow } from './workflow.type';

export enum WorkflowRunStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}
registerEnumType(WorkflowRunStatus, {
  name: 'WorkflowRunStatus',
  description: 'QUEUED → RUNNING → SUCCEEDED or FAILED; CANCELLED (cancelWorkflowRun) from QUEUED or RUNNING. The last three are final.',
});

@ObjectType({ description: 'One run of a workflow.' })
export class WorkflowRun {
  @Field(() => ID)
  id: string;

  /** Whose run it is: a wait for the run reads it again in its organization (run-waiter.ts). */
  organizationId: string;

  /** The workflow, which WorkflowRun.workflow loads. */
  workflowId: string;

  @Field(() => Workflow, { description: 'The workflow this run belongs to (also after it was deleted).' })
  workflow?: Workflow;

  @Field(() => Int, { description: "The workflow's version this run runs: the one that was current when it started." })
  workflowVersion: number;

  @Field(() => WorkflowRunStatus)
  status: WorkflowRunStatus;

  @Field(() => JSONScalar, { nullable: true, description: 'The payload as it was sent (key order and \\u0000 included).' })
  payload: unknown;

  @Field(() => JSONScalar, { nullable: true, description: "The last step's output once the run SUCCEEDED." })
  output: unknown;

  @Field(() => String, { nullable: true, description: 'Why the run FAILED.' })
  error: string | null;

  @Field(() => JSONScalar, {
    description:
      'Each executed step by id: `{ type, status?, output, truncated?, error?, startedAt, finishedAt }` (`truncated`: an http answer over 1 MB, of which `output` keeps the first 1 MB as text).',
  })
  steps: Record<string, StepResult>;

  /** How many status changes the run has had (1 at insert): `workflowRunUpdated` orders and drops repeats by it. */
  statusSeq: number;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;

  /** The run this one is a rerun of (WorkflowRun.rerunOf); null when the original was deleted. */
  rerunOfId: string | null;

  /** Where the run's end is POSTed (`callbackUrl`), and how that went (WorkflowRun.callback); null without one. */
  callbackUrl: string | null;
  callbackAttempts: number;
  callbackDeliveredAt: Date | null;
  callbackLastError: string | null;

  /** The teammate conversation this run is a turn of (WorkflowRun.conversation, resolved in src/teammates/). */
  conversationId: string | null;

  /** What the run was given at start (WorkflowRun.files). */
  files: StoredRunFiles | null;
}

@ObjectType({ description: 'A file handed to a run (`files` of callTeammate or triggerWorkflow), as it was when the run started.' })
export class RunFile {
  @Field(() => ID, { description: "The file's id (it may have been renamed, moved, overwritten or deleted since)." })
  id: string;

  @Field({ description: 'Its absolute path when the run started.' })
  path: string;

  @Field()
  name: string;

  @Field()
  contentType: string;

  @Field(() => Int, { description: 'Size in bytes of the version the run was given.' })
  size: number;

  @Field({ description: 'Hex MD5 of the bytes the run was given.' })
  md5: string;

  @Field({ description: 'The etag of the version the run was given (a later overwrite gives the file another).' })
  etag: string;
}

@ObjectType({ description: "Where a run's completion callback stands (`callbackUrl` of triggerWorkflow or callTeammate)." })
export class RunCallback {
  @Field({ description: 'The URL the end of the run is POSTed to.' })
  url: string;

  @Field(() => Int, { description: 'POSTs tried so far (retried with backoff for more than an hour while the receiver fails).' })
  attempts: number;

  @Field(() => Date, { nullable: true, description: 'When the receiver answered 2xx; null until then.' })
  deliveredAt: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed, when it did.' })
  lastError: string | null;
}
