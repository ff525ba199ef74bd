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

  @Field({ description: 'Its display name.' })
  name: string;

  /** The workflow it runs (Teammate.workflow loads it). */
  workflowId: string;

  @Field(() => [TeammateChannel], { description: 'The channels it can be reached through; `callTeammate` needs `API`.' })
  channels: TeammateChannel[];

  @Field({ description: 'When the teammate was created.' })
  createdAt: Date;
}
