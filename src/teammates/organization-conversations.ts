import type { Page, PageQuery } from '../db/page';
import type { Conversation, ConversationMessage } from './conversation.type';
import type { ConversationPosition, ConversationService, MessagePosition } from './conversation.service';

/**
 * One organization's conversations with its teammates: what the resolvers of a request get as
 * `ctx.org.conversations`, bound to the organization once over ConversationService.
 */
export class OrganizationConversations {
  constructor(
    private readonly conversations: ConversationService,
    readonly organizationId: string,
  ) {}

  find(id: string): Promise<Conversation | null> {
    return this.conversations.find(this.organizationId, id);
  }

  /** The conversations with these ids, in their order (null for an id the organization has none with). */
  byIds(ids: readonly string[]): Promise<Array<Conversation | null>> {
    return this.conversations.byIds(this.organizationId, ids);
  }

  /** A teammate's conversations, most recently active first. */
  list(teammateId: string, query: PageQuery<ConversationPosition>): Promise<Page<Conversation>> {
    return this.conversations.list(this.organizationId, teammateId, query);
  }

  /** A page of the messages of a conversation read through this scope. */
  messages(conversationId: string, query: PageQuery<MessagePosition>): Promise<Page<ConversationMessage>> {
    return this.conversations.messages(conversationId, query);
  }

  rename(id: string, title: string): Promise<Conversation> {
    return this.conversations.rename(this.organizationId, id, title);
  }

  delete(id: string): Promise<boolean> {
    return this.conversations.delete(this.organizationId, id);
  }
}
