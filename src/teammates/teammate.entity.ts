import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum TeammateChannel {
  API = 'API',
}
registerEnumType(TeammateChannel, {
  name: 'TeammateChannel',
  description: 'How a teammate can be reached. `API`: other systems call it with `callTeammate`.',
});

@ObjectType({ description: 'An AI teammate: a workflow reachable through channels, with request logs.' })
export class Teammate {
  @Field(() => ID, { description: 'The teammate id that `callTeammate` and the admin CLI take.' })
  id: string;

  organizationId: string;

  @Field({ description: 'Its display name.' })
  name: string;

  workflowId: string;

  @Field(() => [TeammateChannel], { description: 'The channels it can be reached through; `callTeammate` needs `API`.' })
  channels: TeammateChannel[];

  @Field({ description: 'When the teammate was created.' })
  createdAt: Date;

  /** Set by `alloy teammate delete`; the row stays so that its runs keep their teammate. */
  deletedAt: Date | null;
}
