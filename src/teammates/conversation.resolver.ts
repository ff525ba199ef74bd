import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { Connection, PageConnection, paginate } from '../graphql/connection';
import { GatewayContext, loader } from '../graphql/context';
import { PageArgs } from '../graphql/page-args';
import { Cursors, decodeCursor, encodeCursor, notACursor } from '../graphql/relay';
import { WorkflowRun } from '../workflows/workflow-run.type';
import { Conversation, ConversationMessage } from './conversation.type';
import type { ConversationPosition, MessagePosition } from './conversation.service';
import { MAX_TITLE_LENGTH } from './conversation.service';
import { Teammate } from './teammate.type';
import type { OrganizationConversations } from './organization-conversations';
import type { OrganizationTeammates } from './organization-teammates';

@ObjectType({ description: "A page of a teammate's conversations, most recently active first." })
export class ConversationConnection extends Connection(Conversation, {
  name: 'Conversation',
  item: 'conversation',
  items: 'conversations',
  order: 'most recently active first',
  totalCount: 'How many conversations the teammate has (all pages).',
}) {}

@ObjectType({ description: "A page of a conversation's messages, in the order of the turns." })
export class ConversationMessageConnection extends Connection(ConversationMessage, {
  name: 'ConversationMessage',
  item: 'message',
  items: 'messages',
  order: 'oldest first (each turn: its input, then its output)',
  totalCount: 'How many messages the conversation has (all pages): two for each turn whose run succeeded.',
}) {}

/** Parses an ISO time and uuid of a cursor, or refuses it. */
function timeAndId(time: unknown, id: unknown): { at: Date; id: string } {
  const at = typeof time === 'string' ? new Date(time) : null;
  if (!at || Number.isNaN(at.getTime()) || typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id)) throw notACursor();
  return { at, id };
}

const CONVERSATION_CURSORS: Cursors<Conversation, ConversationPosition> = {
  encode: (c) => encodeCursor('Conversation', [c.updatedAt.toISOString(), c.id]),
  decode(after) {
    const key = decodeCursor('Conversation', after, 2);
    if (!key) return null;
    const { at, id } = timeAndId(key[0], key[1]);
    return { updatedAt: at, id };
  },
};

const MESSAGE_CURSORS: Cursors<ConversationMessage, MessagePosition> = {
  encode: (m) => encodeCursor('ConversationMessage', [m.runCreatedAt.toISOString(), m.runId, m.ord]),
  decode(after) {
    const key = decodeCursor('ConversationMessage', after, 3);
    if (!key) return null;
    const { at, id } = timeAndId(key[0], key[1]);
    if (key[2] !== 0 && key[2] !== 1) throw notACursor();
    return { runCreatedAt: at, runId: id, ord: key[2] };
  },
};

/** What the conversation resolvers use: the organization's conversations and teammates. */
type ConversationContext = GatewayContext<unknown, { conversations: OrganizationConversations; teammates: OrganizationTeammates }>;

@Resolver(() => Conversation)
export class ConversationResolver {
  @Query(() => Conversation, {
    nullable: true,
    description: "One of the organization's conversations with a teammate; null when there is none with this id (or it was deleted).",
  })
  conversation(@Arg('id', () => ID) id: string, @Ctx() ctx: ConversationContext): Promise<Conversation | null> {
    return ctx.org.conversations.find(id);
  }

  @Mutation(() => Conversation, { description: `Gives the conversation a title (1 to ${MAX_TITLE_LENGTH} characters).` })
  renameConversation(@Arg('id', () => ID) id: string, @Arg('title') title: string, @Ctx() ctx: ConversationContext): Promise<Conversation> {
    return ctx.org.conversations.rename(id, title);
  }

  @Mutation(() => Boolean, {
    description:
      'Deletes the conversation: it can no longer be continued or read. Its runs stay, in the request logs and with workflowRun, without the link.',
  })
  deleteConversation(@Arg('id', () => ID) id: string, @Ctx() ctx: ConversationContext): Promise<boolean> {
    return ctx.org.conversations.delete(id);
  }

  @FieldResolver(() => Teammate, { description: 'The teammate the conversation is with.' })
  async teammate(@Root() conversation: Conversation, @Ctx() ctx: ConversationContext): Promise<Teammate> {
    const teammate = await ctx.org.teammates.find(conversation.teammateId);
    if (!teammate) throw new Error(`conversation ${conversation.id} has no teammate`);
    return teammate;
  }

  @FieldResolver(() => ConversationMessageConnection, {
    description: 'The messages in order: for each turn whose run succeeded, its input (`user`) then its output (`teammate`).',
  })
  messages(
    @Root() conversation: Conversation,
    @Args() args: PageArgs,
    @Info() info: GraphQLResolveInfo,
    @Ctx() ctx: ConversationContext,
  ): Promise<PageConnection<ConversationMessage>> {
    return paginate(args, info, MESSAGE_CURSORS, (query) => ctx.org.conversations.messages(conversation.id, query));
  }
}

@Resolver(() => Teammate)
export class TeammateConversationsResolver {
  @FieldResolver(() => ConversationConnection, { description: 'Its conversations, most recently active first.' })
  conversations(
    @Root() teammate: Teammate,
    @Args() args: PageArgs,
    @Info() info: GraphQLResolveInfo,
    @Ctx() ctx: ConversationContext,
  ): Promise<PageConnection<Conversation>> {
    return paginate(args, info, CONVERSATION_CURSORS, (query) => ctx.org.conversations.list(teammate.id, query));
  }
}

@Resolver(() => WorkflowRun)
export class RunConversationResolver {
  @FieldResolver(() => Conversation, {
    nullable: true,
    description: 'The teammate conversation this run is a turn of; null for other runs and once the conversation was deleted.',
  })
  async conversation(@Root() run: WorkflowRun, @Ctx() ctx: ConversationContext): Promise<Conversation | null> {
    if (!run.conversationId) return null;
    const conversations = loader(
      ctx,
      'conversationsById',
      () => new DataLoader((ids: readonly string[]) => ctx.org.conversations.byIds(ids)),
    );
    return conversations.load(run.conversationId);
  }
}

export const conversationResolvers = [ConversationResolver, TeammateConversationsResolver, RunConversationResolver] as const;
