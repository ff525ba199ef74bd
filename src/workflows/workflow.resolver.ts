import { IsInt, Max, Min, ValidationArguments } from 'class-validator';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import {
  Arg,
  Args,
  ArgsType,
  Ctx,
  Field,
  FieldResolver,
  ID,
  Info,
  Int,
  Mutation,
  ObjectType,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import { Connection, connectionOf, PageConnection, paginate } from '../graphql/connection';
import { GatewayContext, loader } from '../graphql/context';
import type { RunWaiter } from './run-waiter';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageArgs } from '../graphql/page-args';
import { selectsField } from '../graphql/selection';
import { MAX_CALLBACK_URL_LENGTH } from './run-callbacks';
import type { OrganizationWorkflows } from './organization-workflows';
import { StoredRunEvent } from './run-event.type';
import { createdAtCursors } from '../graphql/relay';
import { JSONScalar } from '../graphql/scalars';
import { IsIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency-key';
import { MAX_WAIT_SECONDS } from './run-waiter';
import { MAX_RUN_FILES } from './run-files';
import { RunCallback, RunFile, WorkflowRun } from './workflow-run.type';
import { Workflow } from './workflow.type';

/** The `waitSeconds` argument of the mutations that start a run. */
export const WAIT_SECONDS_DESCRIPTION =
  `Wait up to this many seconds (0 to ${MAX_WAIT_SECONDS}) for the run to finish: the answer then comes as soon as it is ` +
  'SUCCEEDED or FAILED (with its output or error), or when the time is up with the run as it stands. 0, the default, answers at once.';

@ObjectType({ description: 'The run that was started (or, for a repeated idempotencyKey, the run started the first time).' })
export class TriggerWorkflowPayload {
  @Field(() => ID)
  runId: string;

  @Field(() => WorkflowRun)
  run: WorkflowRun;

  @Field(() => ID, {
    nullable: true,
    description:
      'The teammate conversation the run is a turn of (callTeammate: the one given, or the one the call started); null for triggerWorkflow.',
  })
  conversationId: string | null;
}

/** The answer of a mutation that started (or, for a repeated key, found) `run`. */
export const startedPayload = (run: WorkflowRun): TriggerWorkflowPayload => ({ runId: run.id, run, conversationId: run.conversationId });

@ObjectType({ description: "A page of the organization's workflows, oldest first." })
export class WorkflowConnection extends Connection(Workflow, {
  name: 'Workflow',
  item: 'workflow',
  items: 'workflows',
  order: 'oldest first',
  totalCount: "How many workflows the organization has (all pages; deleted ones don't count).",
}) {}

const WORKFLOW_CURSORS = createdAtCursors('Workflow');

const WAIT_RANGE = {
  message: ({ value }: ValidationArguments) => `waitSeconds must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}; got ${value}`,
};

/**
 * The arguments of every mutation that starts a run. Both are checked before the run is
 * started, so that a refused value starts nothing.
 */
@ArgsType()
export class StartRunArgs {
  @Field(() => String, {
    nullable: true,
    description: `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters; the same key within 24 hours returns the run it started the first time.`,
  })
  @IsIdempotencyKey()
  idempotencyKey?: string | null;

  // GraphQL's Int already refuses what is not a 32-bit integer.
  @Field(() => Int, { nullable: true, defaultValue: 0, description: WAIT_SECONDS_DESCRIPTION })
  @Min(0, WAIT_RANGE)
  @Max(MAX_WAIT_SECONDS, WAIT_RANGE)
  waitSeconds?: number | null;

  @Field(() => [String], {
    nullable: true,
    description:
      `Absolute paths of files in the organization's storage to hand to the run (at most ${MAX_RUN_FILES}): its steps get each one's ` +
      'id, path, name, contentType, size, md5 and a signed downloadUrl in `files`. A path that is no file is NOT_FOUND and starts nothing.',
  })
  files?: string[] | null;

  // Checked (http or https, at most MAX_CALLBACK_URL_LENGTH characters) before the run is started.
  @Field(() => String, {
    nullable: true,
    description:
      `An http or https URL (at most ${MAX_CALLBACK_URL_LENGTH} characters) that the run's end is POSTed to once it is final: ` +
      '`{ runId, workflowId, status, output, error, finishedAt }`, signed with `alloy-signature` like http steps, retried with ' +
      'backoff for more than an hour until it answers 2xx (see `WorkflowRun.callback`).',
  })
  callbackUrl?: string | null;
}

const FIRST_RANGE = { message: `first must be between 0 and ${MAX_PAGE_SIZE}` };
const AFTER_RANGE = { message: 'after must be a seq (0 or more)' };

/** `WorkflowRun.events`' arguments: positions are the events' `seq`, so `after` is a number, not a cursor. */
@ArgsType()
export class RunEventArgs {
  @Field(() => Int, {
    nullable: true,
    description: 'Events with a greater `seq` than this (the last one seen); from the first without it.',
  })
  @IsInt(AFTER_RANGE)
  @Min(0, AFTER_RANGE)
  after?: number | null;

  @Field(() => Int, { nullable: true, description: `0 to ${MAX_PAGE_SIZE}; ${DEFAULT_PAGE_SIZE} when omitted.` })
  @IsInt(FIRST_RANGE)
  @Min(0, FIRST_RANGE)
  @Max(MAX_PAGE_SIZE, FIRST_RANGE)
  first?: number | null;
}

@ObjectType({ description: "A page of a run's events, in order (`seq` ascending)." })
export class RunEventConnection extends Connection(StoredRunEvent, {
  name: 'RunEvent',
  item: 'event',
  items: 'events',
  order: 'in the order they happened',
  totalCount: 'How many events the run has now (all pages).',
}) {}

@ArgsType()
class RerunArgs {
  @Field(() => ID, { description: 'The run to run again.' })
  id: string;

  @Field(() => Int, { nullable: true, defaultValue: 0, description: WAIT_SECONDS_DESCRIPTION })
  @Min(0, WAIT_RANGE)
  @Max(MAX_WAIT_SECONDS, WAIT_RANGE)
  waitSeconds?: number | null;
}

@ArgsType()
class TriggerWorkflowArgs extends StartRunArgs {
  @Field(() => ID, { description: 'The workflow to start.' })
  workflowId: string;

  @Field(() => JSONScalar, { nullable: true, description: 'What the run starts with; at most 1 MB of JSON.' })
  payload?: unknown;
}

/** What the workflow resolvers use: the organization's workflows, and the run waiter. */
export type WorkflowContext = GatewayContext<{ runWaiter: RunWaiter }, { workflows: OrganizationWorkflows }>;

/** The request's loader of the organization's workflows by id: one query per request, whatever the number of runs. */
export function workflowLoader(ctx: GatewayContext<unknown, { workflows: OrganizationWorkflows }>): DataLoader<string, Workflow | null> {
  return loader(ctx, 'workflowsById', () => new DataLoader((ids: readonly string[]) => ctx.org.workflows.byIds(ids)));
}

@Resolver()
export class WorkflowResolver {
  @Query(() => Workflow, {
    nullable: true,
    description: "One of the organization's workflows; null when there is none with this id (or it was deleted).",
  })
  workflow(@Arg('id', () => ID) id: string, @Ctx() ctx: WorkflowContext): Promise<Workflow | null> {
    return ctx.org.workflows.find(id);
  }

  @Query(() => WorkflowConnection, { description: "The organization's workflows, oldest first (deleted ones are left out)." })
  workflows(@Args() args: PageArgs, @Ctx() ctx: WorkflowContext, @Info() info: GraphQLResolveInfo): Promise<PageConnection<Workflow>> {
    return paginate(args, info, WORKFLOW_CURSORS, (query) => ctx.org.workflows.list(query));
  }

  @Query(() => WorkflowRun, {
    nullable: true,
    description: "One of the organization's workflow runs; null when there is none with this id.",
  })
  workflowRun(@Arg('id', () => ID) id: string, @Ctx() ctx: WorkflowContext): Promise<WorkflowRun | null> {
    return ctx.org.workflows.findRun(id);
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description:
      'Starts a run of the workflow with this payload (at most 1 MB of JSON). The same idempotencyKey within 24 hours returns the first run.',
  })
  async triggerWorkflow(
    @Args() { workflowId, payload, idempotencyKey, waitSeconds, callbackUrl, files }: TriggerWorkflowArgs,
    @Ctx() ctx: WorkflowContext,
  ): Promise<TriggerWorkflowPayload> {
    const started = await ctx.org.workflows.trigger({
      workflowId,
      payload,
      idempotencyKey,
      callbackUrl,
      files,
      baseUrl: ctx.baseUrl,
    });
    const run = await ctx.services.runWaiter.untilFinished(started, waitSeconds ?? 0, ctx.clientGone());
    return startedPayload(run);
  }

  @Mutation(() => WorkflowRun, {
    description:
      'Cancels the run: a QUEUED run never starts; a RUNNING one stops within seconds wherever its worker runs (its http request in ' +
      'flight is aborted, no later step runs). Either ends CANCELLED. A run that has already finished is returned unchanged.',
  })
  cancelWorkflowRun(@Arg('id', () => ID) id: string, @Ctx() ctx: WorkflowContext): Promise<WorkflowRun> {
    return ctx.org.workflows.cancelRun(id);
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description:
      "Starts a new run of the run's workflow (its current version) with the same payload; `rerunOf` on the new run links it to this " +
      'one. WORKFLOW_NOT_FOUND when the workflow was deleted.',
  })
  async rerunWorkflowRun(@Args() { id, waitSeconds }: RerunArgs, @Ctx() ctx: WorkflowContext): Promise<TriggerWorkflowPayload> {
    const started = await ctx.org.workflows.rerunRun(id);
    const run = await ctx.services.runWaiter.untilFinished(started, waitSeconds ?? 0, ctx.clientGone());
    return startedPayload(run);
  }
}

@Resolver()
export class WorkflowRunSubscriptionResolver {
  @Subscription(() => WorkflowRun, {
    description:
      'The run now, then again at each status change, once each and in order; completes after SUCCEEDED or FAILED (at once if the run ' +
      'has already finished). Over the graphql-ws protocol on this same URL, with the key in connection_init as `{ "api-key": "…" }`.',
    subscribe: ({ args, context }: { args: { id: string }; context: WorkflowContext }) => context.org.workflows.followRun(args.id),
  })
  workflowRunUpdated(
    @Root() run: WorkflowRun,
    @Arg('id', () => ID, { description: "The run's id (`runId` of triggerWorkflow or callTeammate)." }) _id: string,
  ): WorkflowRun {
    return run;
  }

  @Subscription(() => StoredRunEvent, {
    description:
      "The run's events with `seq` greater than `after` (all of them without it): those already stored first, then each new one as it " +
      'happens, every one exactly once and in order; completes after the final STATUS event (SUCCEEDED, FAILED or CANCELLED). ' +
      'After a lost connection, subscribe again with the last `seq` seen to miss nothing. NOT_FOUND for an unknown run.',
    subscribe: ({ args, context }: { args: { id: string; after?: number | null }; context: WorkflowContext }) =>
      context.org.workflows.followRunEvents(args.id, args.after),
  })
  workflowRunEvents(
    @Root() event: StoredRunEvent,
    @Arg('id', () => ID, { description: "The run's id." }) _id: string,
    @Arg('after', () => Int, { nullable: true, description: 'The last `seq` already seen; events after it follow.' }) _after?: number,
  ): StoredRunEvent {
    return event;
  }
}

@Resolver(() => WorkflowRun)
export class WorkflowRunResolver {
  @FieldResolver(() => Workflow)
  async workflow(@Root() run: WorkflowRun, @Ctx() ctx: WorkflowContext): Promise<Workflow> {
    const workflow = await workflowLoader(ctx).load(run.workflowId);
    if (!workflow) throw new Error(`run ${run.id} has no workflow`);
    return workflow;
  }

  @FieldResolver(() => RunEventConnection, {
    description: "The run's events in order (`seq` 1, 2, 3 …): status changes, steps started and finished, streamed output.",
  })
  async events(
    @Root() run: WorkflowRun,
    @Args() args: RunEventArgs,
    @Ctx() ctx: WorkflowContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<StoredRunEvent>> {
    const first = args.first ?? DEFAULT_PAGE_SIZE;
    const page = await ctx.org.workflows.runEvents(run.id, args.after ?? 0, first, selectsField(info, 'totalCount'));
    return connectionOf(page, (event) => String(event.seq));
  }

  @FieldResolver(() => WorkflowRun, { nullable: true, description: 'The run this one is a rerun of (rerunWorkflowRun); null otherwise.' })
  rerunOf(@Root() run: WorkflowRun, @Ctx() ctx: WorkflowContext): Promise<WorkflowRun | null> | null {
    return run.rerunOfId ? ctx.org.workflows.findRun(run.rerunOfId) : null;
  }

  @FieldResolver(() => RunCallback, {
    nullable: true,
    description: "Where the run's completion callback stands; null without callbackUrl.",
  })
  callback(@Root() run: WorkflowRun): RunCallback | null {
    if (!run.callbackUrl) return null;
    return {
      url: run.callbackUrl,
      attempts: run.callbackAttempts ?? 0,
      deliveredAt: run.callbackDeliveredAt ?? null,
      lastError: run.callbackLastError ?? null,
    };
  }

  @FieldResolver(() => [RunFile], {
    description: 'The files the run was given (`files` of the call), as they were when it started; empty when it was given none.',
  })
  files(@Root() run: WorkflowRun): RunFile[] {
    return (run.files?.items ?? []).map(({ id, path, name, contentType, size, md5, etag }) =>
      Object.assign(new RunFile(), { id, path, name, contentType, size, md5, etag }),
    );
  }
}
