import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export enum TeammateChannel {
  API = 'API',
}
registerEnumType(TeammateChannel, {
  name: 'TeammateChannel',
  description: 'How a teammate can be reached. `API`: other systems call it with `callTeammate`.',
});

@ObjectType({ description: 'An AI teammate: a workflow reachable through channels, with request logs.' })
@Entity({ name: 'teammates' })
@Index('teammates_organization_page', ['organizationId', 'createdAt', 'id'])
export class Teammate {
  @Field(() => ID)
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  @Field()
  @Column('text')
  name: string;

  @Column('uuid', { name: 'workflow_id' })
  workflowId: string;

  @Field(() => [TeammateChannel])
  @Column('text', { array: true, default: () => `'{}'` })
  channels: TeammateChannel[];

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  /** Set by `alloy teammate delete`; the row stays so that its runs keep their teammate. */
  @Column({ type: 'timestamptz', name: 'deleted_at', precision: 3, nullable: true })
  deletedAt: Date | null;
}
