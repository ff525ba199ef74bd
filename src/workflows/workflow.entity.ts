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

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
