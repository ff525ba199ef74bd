import { Organization } from '../auth/organization.type';
import type { Principal } from '../graphql/context';
import { OrganizationStorage } from '../storage/organization-storage';
import type { Storage } from '../storage/storage';
import type { ConversationService } from '../teammates/conversation.service';
import { OrganizationConversations } from '../teammates/organization-conversations';
import { OrganizationTeammates } from '../teammates/organization-teammates';
import type { TeammateService } from '../teammates/teammate.service';
import { OrganizationWorkflows, WorkflowScopeServices } from '../workflows/organization-workflows';

/** The services an organization scope is bound over: the composition root's. */
export interface ScopeServices extends WorkflowScopeServices {
  storage: Storage;
  teammates: TeammateService;
  conversations: ConversationService;
}

/**
 * The caller's organization, bound once per request after authentication: what resolvers get as
 * `ctx.org` (src/http/edge.ts makes it on first use, for HTTP and WebSocket alike) and what the
 * HTTP routes that take a key use (`GET /files/:id/content`, `GET /runs/:id/events`). The one place
 * that reads the organization (and the calling key) from the principal. Each capability is made on
 * its first use in the request, so that a request pays only for the one or two it touches: one
 * small object each, over the process's services. Adding a capability: a class taking the
 * organization (and the key, when it records who called) in its constructor, and a getter here.
 */
export class OrganizationScope {
  private storageScope?: OrganizationStorage;
  private workflowsScope?: OrganizationWorkflows;
  private teammatesScope?: OrganizationTeammates;
  private conversationsScope?: OrganizationConversations;

  constructor(
    private readonly services: ScopeServices,
    readonly principal: Principal,
  ) {}

  /** The organization itself; authentication read its name with the key. */
  get organization(): Organization {
    return Object.assign(new Organization(), { id: this.principal.organizationId, name: this.principal.organizationName });
  }

  get storage(): OrganizationStorage {
    return (this.storageScope ??= new OrganizationStorage(this.services.storage, this.principal.organizationId));
  }

  get workflows(): OrganizationWorkflows {
    return (this.workflowsScope ??= new OrganizationWorkflows(this.services, this.principal.organizationId, this.principal.keyId));
  }

  get teammates(): OrganizationTeammates {
    return (this.teammatesScope ??= new OrganizationTeammates(
      this.services.teammates,
      this.principal.organizationId,
      this.principal.keyId,
    ));
  }

  get conversations(): OrganizationConversations {
    return (this.conversationsScope ??= new OrganizationConversations(this.services.conversations, this.principal.organizationId));
  }
}
