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
  @Field(() => ID, { description: 'The teammate id that `callTeammate` and the admin CLI take.' })
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('uuid', { name: 'organization_id' })
  organizationId: string;

  @Field({ description: 'Its display name.' })
  @Column('text')
  name: string;

  @Column('uuid', { name: 'workflow_id' })
  workflowId: string;

  @Field(() => [TeammateChannel], { description: 'The channels it can be reached through; `callTeammate` needs `API`.' })
  @Column('text', { array: true, default: () => `'{}'` })
  channels: TeammateChannel[];

  @Field({ description: 'When the teammate was created.' })
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  /** Set by `alloy teammate delete`; the row stays so that its runs keep their teammate. */
  @Column({ type: 'timestamptz', name: 'deleted_at', precision: 3, nullable: true })
  deletedAt: Date | null;
}
