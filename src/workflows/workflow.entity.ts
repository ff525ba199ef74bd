import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JSONScalar } from '../graphql/scalars';
import type { WorkflowDefinition } from './definition';

@ObjectType({ description: 'A workflow definition of the organization; start it with `triggerWorkflow`.' })
@Entity({ name: 'workflows' })
@Index('workflows_organization_page', ['organizationId', 'createdAt', 'id'])
export class Workflow {
  @Field(() => ID, { description: 'The workflow id that `triggerWorkflow` and the admin CLI take.' })
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  @Field({ description: "The definition's `name`." })
  @Column('text')
  name: string;

  @Field(() => String, { nullable: true, description: 'The step runs begin with; null when the definition names no existing step.' })
  @Column('text', { name: 'start_step', nullable: true })
  startStep: string | null;

  @Field({ description: 'Whether `triggerWorkflow` can start it (it has a valid `startStep`).' })
  @Column('boolean')
  startable: boolean;

  @Field(() => JSONScalar, { description: 'The current definition (as created, or as last updated).' })
  @Column('json')
  definition: WorkflowDefinition;

  @Field(() => Int, { description: 'The current version: 1 when created, one more with each update. A run keeps the version it started with.' })
  @Column('int', { default: 1 })
  version: number;

  /** Signs the requests of the workflow's http steps (src/workflows/signing.ts); never in the API. */
  @Column('text', { name: 'signing_secret', select: false })
  signingSecret: string;

  /** Kept signing too after a rotation, until `previousSigningSecretUntil`. */
  @Column('text', { name: 'previous_signing_secret', nullable: true, select: false })
  previousSigningSecret: string | null;

  @Column('timestamptz', { name: 'previous_signing_secret_until', nullable: true, select: false })
  previousSigningSecretUntil: Date | null;

  @Field({ description: 'When the workflow was created.' })
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Field({ description: 'When the definition last changed (the creation time until the first update).' })
  @Column({ type: 'timestamptz', name: 'updated_at', precision: 3 })
  updatedAt: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'When the workflow was deleted; only a run (or request log) of it still leads here. Null while it exists.',
  })
  @Column({ type: 'timestamptz', name: 'deleted_at', precision: 3, nullable: true })
  deletedAt: Date | null;
}

/** One definition a workflow had; runs read theirs from here, so an update never changes a run that started. */
@Entity({ name: 'workflow_versions' })
export class WorkflowVersion {
  @PrimaryColumn('uuid', { name: 'workflow_id' })
  workflowId: string;

  @PrimaryColumn('int')
  version: number;

  @Column('json')
  definition: WorkflowDefinition;

  @Column('text', { name: 'start_step', nullable: true })
  startStep: string | null;

  @Column('boolean')
  startable: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
