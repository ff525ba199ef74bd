import { Max, Min, ValidationArguments } from 'class-validator';
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
import { Connection, PageConnection, paginate } from '../graphql/connection';
import { GatewayContext, loader, requirePrincipal } from '../graphql/context';
import type { RunEvents } from './run-events';
import type { RunWaiter } from './run-waiter';
import type { WorkflowService } from './workflow.service';
import { PageArgs } from '../graphql/page-args';
import { createdAtCursors } from '../graphql/relay';
import { JSONScalar } from '../graphql/scalars';
import { IsIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency-key';
import { RunUpdates } from './run-updates';
import { MAX_WAIT_SECONDS } from './run-waiter';
import { MAX_RUN_FILES } from './run-files';
import { RunFile, WorkflowRun } from './workflow-run.entity';
import { Workflow } from './workflow.entity';

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
}

@ArgsType()
class TriggerWorkflowArgs extends StartRunArgs {
  @Field(() => ID, { description: 'The workflow to start.' })
  workflowId: string;

  @Field(() => JSONScalar, { nullable: true, description: 'What the run starts with; at most 1 MB of JSON.' })
  payload?: unknown;
}

/** The services the workflow resolvers use. */
export type WorkflowContext = GatewayContext<{ workflows: WorkflowService; runWaiter: RunWaiter; runEvents: RunEvents }>;

/** The request's loader of the organization's workflows by id: one query per request, whatever the number of runs. */
export function workflowLoader(ctx: GatewayContext<{ workflows: WorkflowService }>): DataLoader<string, Workflow | null> {
  const { organizationId } = requirePrincipal(ctx);
  return loader(
    ctx,
    'workflowsById',
    () => new DataLoader((ids: readonly string[]) => ctx.services.workflows.workflowsByIds(organizationId, ids)),
  );
}

@Resolver()
export class WorkflowResolver {
  @Query(() => Workflow, {
    nullable: true,
    description: "One of the organization's workflows; null when there is none with this id (or it was deleted).",
  })
  workflow(@Arg('id', () => ID) id: string, @Ctx() ctx: WorkflowContext): Promise<Workflow | null> {
    return ctx.services.workflows.findWorkflow(requirePrincipal(ctx).organizationId, id);
  }

  @Query(() => WorkflowConnection, { description: "The organization's workflows, oldest first (deleted ones are left out)." })
  workflows(@Args() args: PageArgs, @Ctx() ctx: WorkflowContext, @Info() info: GraphQLResolveInfo): Promise<PageConnection<Workflow>> {
    const { organizationId } = requirePrincipal(ctx);
    return paginate(args, info, WORKFLOW_CURSORS, (query) => ctx.services.workflows.listWorkflows(organizationId, query));
  }

  @Query(() => WorkflowRun, {
    nullable: true,
    description: "One of the organization's workflow runs; null when there is none with this id.",
  })
  workflowRun(@Arg('id', () => ID) id: string, @Ctx() ctx: WorkflowContext): Promise<WorkflowRun | null> {
    return ctx.services.workflows.findRun(requirePrincipal(ctx).organizationId, id);
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description:
      'Starts a run of the workflow with this payload (at most 1 MB of JSON). The same idempotencyKey within 24 hours returns the first run.',
  })
  async triggerWorkflow(
    @Args() { workflowId, payload, idempotencyKey, waitSeconds, files }: TriggerWorkflowArgs,
    @Ctx() ctx: WorkflowContext,
  ): Promise<TriggerWorkflowPayload> {
    const principal = requirePrincipal(ctx);
    const started = await ctx.services.workflows.startRun({
      organizationId: principal.organizationId,
      workflowId,
      payload,
      idempotencyKey,
      channel: 'TRIGGER',
      apiKeyId: principal.keyId,
      files,
      baseUrl: ctx.baseUrl,
    });
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
    subscribe: ({ args, context }: { args: { id: string }; context: WorkflowContext }) => {
      const { services } = context;
      const { organizationId } = requirePrincipal(context);
      return RunUpdates.start(services.runEvents, (org, id) => services.workflows.findRun(org, id), organizationId, args.id);
    },
  })
  workflowRunUpdated(
    @Root() run: WorkflowRun,
    @Arg('id', () => ID, { description: "The run's id (`runId` of triggerWorkflow or callTeammate)." }) _id: string,
  ): WorkflowRun {
    return run;
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

  @FieldResolver(() => [RunFile], {
    description: 'The files the run was given (`files` of the call), as they were when it started; empty when it was given none.',
  })
  files(@Root() run: WorkflowRun): RunFile[] {
    return (run.files?.items ?? []).map(({ id, path, name, contentType, size, md5, etag }) =>
      Object.assign(new RunFile(), { id, path, name, contentType, size, md5, etag }),
    );
  }
}
