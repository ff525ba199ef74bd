import { Field, ID, ObjectType } from 'type-graphql';
import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { JSONScalar } from '../graphql/scalars';
import type { WorkflowDefinition } from './definition';

@ObjectType({ description: 'A workflow definition of the organization; start it with `triggerWorkflow`.' })
@Entity({ name: 'workflows' })
@Index('workflows_organization_page', ['organizationId', 'createdAt', 'id'])
export class Workflow {
  @Field(() => ID)
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  @Field()
  @Column('text')
  name: string;

  @Field(() => String, { nullable: true, description: 'The step runs begin with; null when the definition names no existing step.' })
  @Column('text', { name: 'start_step', nullable: true })
  startStep: string | null;

  @Field({ description: 'Whether `triggerWorkflow` can start it (it has a valid `startStep`).' })
  @Column('boolean')
  startable: boolean;

  @Field(() => JSONScalar, { description: 'The definition as it was created.' })
  @Column('json')
  definition: WorkflowDefinition;

  /** Signs the requests of the workflow's http steps (src/workflows/signing.ts); never in the API. */
  @Column('text', { name: 'signing_secret', select: false })
  signingSecret: string;

  /** Kept signing too after a rotation, until `previousSigningSecretUntil`. */
  @Column('text', { name: 'previous_signing_secret', nullable: true, select: false })
  previousSigningSecret: string | null;

  @Column('timestamptz', { name: 'previous_signing_secret_until', nullable: true, select: false })
  previousSigningSecretUntil: Date | null;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
