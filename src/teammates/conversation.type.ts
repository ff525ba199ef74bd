import { Field, ID, ObjectType } from 'type-graphql';
import { JSONScalar } from '../graphql/scalars';

@ObjectType({
  description:
    'A conversation with a teammate: the thread of its `callTeammate` turns. Each turn is a run; the messages are read from the runs that succeeded.',
})
export class Conversation {
  @Field(() => ID, { description: 'Pass it as `conversationId` to callTeammate to continue the conversation.' })
  id: string;

  /** The teammate it is with (Conversation.teammate loads it). */
  teammateId: string;

  @Field({ description: 'The start of the first input unless renamed (renameConversation).' })
  title: string;

  @Field()
  createdAt: Date;

  @Field({ description: 'The last turn or rename; conversations list most recently active first.' })
  updatedAt: Date;
}

@ObjectType({ description: 'One message of a conversation: an input (`user`) or the output of a run that succeeded (`teammate`).' })
export class ConversationMessage {
  @Field({ description: "`user` (the input of a turn) or `teammate` (the output of that turn's run, which succeeded)." })
  role: string;

  @Field(() => JSONScalar, { nullable: true, description: "The input as it was sent, or the run's output." })
  content: unknown;

  @Field(() => ID, { description: 'The run of the turn.' })
  runId: string;

  @Field({ description: 'When the input arrived, or when the run finished.' })
  at: Date;

  /** Not in the schema: the turn's position (its run's createdAt) and the message's place in it, for cursors. */
  runCreatedAt: Date;
  ord: number;
}
