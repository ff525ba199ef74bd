import type { CreatedAtPosition, Page, PageQuery } from '../db/page';
import type { WorkflowRun } from '../workflows/workflow-run.type';
import type { ApiCallLog } from './api-call-log';
import type { Teammate } from './teammate.type';
import type { ApiCallFilter, CallOptions, TeammateService } from './teammate.service';

/**
 * One caller's teammates: what the resolvers of a request get as `ctx.org.teammates`. It binds the
 * organization and the calling key once and hands every call to TeammateService, which keeps its
 * organization-scoped methods (the CLI calls those with the organization it acts for).
 */
export class OrganizationTeammates {
  constructor(
    private readonly teammates: TeammateService,
    private readonly organizationId: string,
    /** The calling API key, recorded on the calls it makes. */
    private readonly keyId: string,
  ) {}

  find(id: string): Promise<Teammate | null> {
    return this.teammates.findTeammate(this.organizationId, id);
  }

  list(query: PageQuery<CreatedAtPosition>): Promise<Page<Teammate>> {
    return this.teammates.listTeammates(this.organizationId, query);
  }

  /** Starts the teammate's workflow on its API channel, recording the calling key. */
  call(teammateId: string, input: unknown, options: CallOptions): Promise<WorkflowRun> {
    return this.teammates.callTeammate(this.organizationId, this.keyId, teammateId, input, options);
  }

  /** The teammate's request logs. */
  apiCalls(teammateId: string, filter: ApiCallFilter, query: PageQuery<CreatedAtPosition>): Promise<Page<ApiCallLog>> {
    return this.teammates.apiCalls(this.organizationId, teammateId, filter, query);
  }
}
