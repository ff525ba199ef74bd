import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { JSONScalar } from '../graphql/scalars';
import { Workflow } from './workflow.entity';

export enum WorkflowRunStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}
registerEnumType(WorkflowRunStatus, { name: 'WorkflowRunStatus', description: 'QUEUED → RUNNING → SUCCEEDED or FAILED' });

/** How a run was started: `triggerWorkflow` or a teammate's `API` channel (`callTeammate`). */
export type RunChannel = 'TRIGGER' | 'API';

export interface StepResult {
  type: 'http' | 'transform';
  /** HTTP status of an `http` step's answer. */
  status?: number;
  output: unknown;
  /** An `http` step's answer was longer than 1 MB: `output` is its first 1 MB, as text. */
  truncated?: boolean;
  error?: string;
  startedAt: string;
  finishedAt: string;
}

@ObjectType({ description: 'One run of a workflow.' })
@Entity({ name: 'workflow_runs' })
@Index('workflow_runs_expired_leases', ['leaseUntil'], { where: `status = 'RUNNING'` })
export class WorkflowRun {
  @Field(() => ID)
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  @Index('workflow_runs_workflow')
  @Column('uuid', { name: 'workflow_id' })
  workflowId: string;

  @Field(() => Workflow, { description: 'The workflow this run belongs to (also after it was deleted).' })
  workflow?: Workflow;

  @Field(() => Int, { description: "The workflow's version this run runs: the one that was current when it started." })
  @Column('int', { name: 'workflow_version' })
  workflowVersion: number;

  @Column('uuid', { name: 'teammate_id', nullable: true })
  teammateId: string | null;

  @Column('text')
  channel: RunChannel;

  /** The API key that started the run (recorded for the teammate API channel). */
  @Column('uuid', { name: 'api_key_id', nullable: true })
  apiKeyId: string | null;

  @Field(() => WorkflowRunStatus)
  @Column('text')
  status: WorkflowRunStatus;

  @Field(() => JSONScalar, { nullable: true, description: 'The payload as it was sent (key order and \\u0000 included).' })
  @Column('json', { nullable: true })
  payload: unknown;

  @Field(() => JSONScalar, { nullable: true, description: "The last step's output once the run SUCCEEDED." })
  @Column('json', { nullable: true })
  output: unknown;

  @Field(() => String, { nullable: true, description: 'Why the run FAILED.' })
  @Column('text', { nullable: true })
  error: string | null;

  @Field(() => JSONScalar, { description: 'Each executed step by id: `{ type, status?, output, truncated?, error?, startedAt, finishedAt }` (`truncated`: an http answer over 1 MB, of which `output` keeps the first 1 MB as text).' })
  @Column('json', { name: 'step_results', default: {} })
  steps: Record<string, StepResult>;

  /** The step to run next; progress survives a worker that stops or dies between steps. */
  @Column('text', { name: 'next_step', nullable: true })
  nextStep: string | null;

  /** Fencing token of the worker that holds the run; a worker whose lease was taken writes nothing. */
  @Column('uuid', { name: 'lease_token', nullable: true })
  leaseToken: string | null;

  @Column('timestamptz', { name: 'lease_until', nullable: true })
  leaseUntil: Date | null;

  /** How many times the run was put back in the queue after its worker stopped responding. */
  @Column('int', { default: 0 })
  recoveries: number;

  /** How many status changes the run has had (1 at insert); announced with each (see run-events.ts). */
  @Column('int', { name: 'status_seq', default: 1 })
  statusSeq: number;

  @Field()
  @Column({ type: 'timestamptz', name: 'created_at', precision: 3 })
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  @Column({ type: 'timestamptz', name: 'started_at', precision: 3, nullable: true })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: 'timestamptz', name: 'finished_at', precision: 3, nullable: true })
  finishedAt: Date | null;
}
