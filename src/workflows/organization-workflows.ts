import type { CreatedAtPosition, Page, PageQuery } from '../db/page';
import type { RunEventLog } from './run-event-log';
import { RunEventStream } from './run-event-stream';
import type { StoredRunEvent } from './run-event.type';
import type { RunEvents } from './run-events';
import { RunUpdates } from './run-updates';
import type { WorkflowRun } from './workflow-run.type';
import type { Workflow } from './workflow.type';
import type { StartRunRequest, WorkflowService } from './workflow.service';

/** What a caller gives to start a run; the scope adds the organization, the key and the channel. */
export type TriggerRequest = Omit<StartRunRequest, 'organizationId' | 'apiKeyId' | 'channel' | 'teammateId' | 'conversationId' | 'rerunOf'>;

/** The services an organization's workflows are bound over (the composition root's). */
export interface WorkflowScopeServices {
  workflows: WorkflowService;
  runEvents: RunEvents;
  runEventLog: RunEventLog;
}

/**
 * One caller's workflows and runs: what the resolvers of a request get as `ctx.org.workflows`. It
 * binds the organization and the calling key once and hands every call to WorkflowService, which
 * keeps its organization-scoped methods (the CLI calls those with the organization it acts for).
 */
export class OrganizationWorkflows {
  constructor(
    private readonly services: WorkflowScopeServices,
    private readonly organizationId: string,
    /** The calling API key, recorded on the runs it starts. */
    private readonly keyId: string,
  ) {}

  find(id: string): Promise<Workflow | null> {
    return this.services.workflows.findWorkflow(this.organizationId, id);
  }

  /** The workflows with these ids, in their order (null for an id the organization has no workflow with). */
  byIds(ids: readonly string[]): Promise<Array<Workflow | null>> {
    return this.services.workflows.workflowsByIds(this.organizationId, ids);
  }

  list(query: PageQuery<CreatedAtPosition>): Promise<Page<Workflow>> {
    return this.services.workflows.listWorkflows(this.organizationId, query);
  }

  findRun(id: string): Promise<WorkflowRun | null> {
    return this.services.workflows.findRun(this.organizationId, id);
  }

  /** Starts a run on the TRIGGER channel, recording the calling key. */
  trigger(request: TriggerRequest): Promise<WorkflowRun> {
    return this.services.workflows.startRun({
      ...request,
      organizationId: this.organizationId,
      channel: 'TRIGGER',
      apiKeyId: this.keyId,
    });
  }

  cancelRun(id: string): Promise<WorkflowRun> {
    return this.services.workflows.cancelRun(this.organizationId, id);
  }

  rerunRun(id: string): Promise<WorkflowRun> {
    return this.services.workflows.rerunRun(this.organizationId, id, this.keyId);
  }

  /** A page of a run's events (the run read through this scope). */
  runEvents(runId: string, after: number, first: number, count: boolean): Promise<Page<StoredRunEvent>> {
    return this.services.runEventLog.page(this.organizationId, runId, after, first, count);
  }

  /** `workflowRunUpdated`: the run now, then at each status change. */
  followRun(runId: string): Promise<RunUpdates> {
    return RunUpdates.start(this.services.runEvents, (org, id) => this.services.workflows.findRun(org, id), this.organizationId, runId);
  }

  /** `workflowRunEvents`: the run's events after `after`, then each new one. */
  followRunEvents(runId: string, after: number | null | undefined): Promise<RunEventStream> {
    const { workflows, runEvents, runEventLog } = this.services;
    return RunEventStream.start(
      runEvents,
      runEventLog,
      async (org, id) => (await workflows.findRun(org, id)) !== null,
      this.organizationId,
      runId,
      after,
    );
  }
}
