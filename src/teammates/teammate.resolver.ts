import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Info, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { Connection, PageConnection, paginate } from '../graphql/connection';
import type { GatewayContext } from '../graphql/context';
import type { RunWaiter } from '../workflows/run-waiter';
import type { OrganizationWorkflows } from '../workflows/organization-workflows';
import type { OrganizationTeammates } from './organization-teammates';
import { PageArgs } from '../graphql/page-args';
import { createdAtCursors } from '../graphql/relay';
import { JSONScalar } from '../graphql/scalars';
import { WorkflowRunStatus } from '../workflows/workflow-run.type';
import { Workflow } from '../workflows/workflow.type';
import { StartRunArgs, startedPayload, TriggerWorkflowPayload, workflowLoader } from '../workflows/workflow.resolver';
import { ApiCallLog } from './api-call-log';
import { teammateApiExamples, teammatePlaygroundUrl } from './api-examples';
import { Teammate } from './teammate.type';

@ObjectType({ description: "A ready-to-paste example of calling a teammate through its API channel, with the teammate's id filled in." })
export class ApiExample {
  @Field({ description: 'What the code is written in: `curl`, `graphql` or `javascript`.' })
  language: string;

  @Field({ description: 'One line saying what the example is and where it takes the API key from.' })
  title: string;

  @Field({
    description: 'The example itself, to paste as it is (it reads the key from API_KEY, or leaves it to the api-key header).',
  })
  code: string;
}

@ObjectType({ description: 'How to call a teammate through its API channel: what a product shows on its API tab.' })
export class TeammateApi {
  @Field({ description: 'The absolute GraphQL endpoint to send `callTeammate` to.' })
  endpoint: string;

  @Field(() => [ApiExample], {
    description:
      'Ready-to-paste examples of the call in `curl`, `graphql` and `javascript`, in that order; then, in `curl`, following the ' +
      "call's events as they happen (`GET /runs/:id/events`) and cancelling it (`cancelWorkflowRun`).",
  })
  examples: ApiExample[];

  @Field({
    description:
      "The request tester: opens the playground with this teammate's `callTeammate` operation and its variables filled in; " +
      'paste an API key into the `api-key` header and run it.',
  })
  playgroundUrl: string;
}

@ObjectType({ description: "A page of the organization's teammates, oldest first." })
export class TeammateConnection extends Connection(Teammate, {
  name: 'Teammate',
  item: 'teammate',
  items: 'teammates',
  order: 'oldest first',
  totalCount: "How many teammates the organization has (all pages; deleted ones don't count).",
}) {}

@ObjectType({ description: "A page of a teammate's request logs (its calls through the API channel), newest first." })
export class RequestLogConnection extends Connection(ApiCallLog, {
  name: 'RequestLog',
  item: 'request log',
  items: 'request logs',
  order: 'newest first',
  totalCount: 'How many logs match the filters (all pages).',
}) {}

const TEAMMATE_CURSORS = createdAtCursors('Teammate');
const REQUEST_LOG_CURSORS = createdAtCursors('RequestLog');

@ArgsType()
class RequestLogArgs extends PageArgs {
  @Field(() => WorkflowRunStatus, { nullable: true, description: 'Only logs whose run has this status.' })
  status?: WorkflowRunStatus | null;

  @Field(() => Date, { nullable: true, description: 'Only logs created at or after this time.' })
  since?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Only logs created before this time.' })
  until?: Date | null;

  @Field(() => ID, { nullable: true, description: 'Only the turns of this conversation.' })
  conversationId?: string | null;
}

@ArgsType()
class CallTeammateArgs extends StartRunArgs {
  @Field(() => ID, { description: 'The teammate to call.' })
  teammateId: string;

  @Field(() => JSONScalar, { description: "The caller's request: the payload of the run it starts." })
  input: unknown;

  @Field(() => ID, {
    nullable: true,
    description:
      'Continue this conversation (its steps get the earlier turns in `conversation.messages`); without it the call starts a new one. ' +
      "CONVERSATION_BUSY while the conversation's previous turn is QUEUED or RUNNING; NOT_FOUND for a conversation of another teammate.",
  })
  conversationId?: string | null;
}

/** What the teammate resolvers use: the organization's teammates and workflows, and the run waiter. */
type TeammateContext = GatewayContext<{ runWaiter: RunWaiter }, { teammates: OrganizationTeammates; workflows: OrganizationWorkflows }>;

@Resolver(() => Teammate)
export class TeammateResolver {
  @Query(() => Teammate, { nullable: true, description: "One of the organization's teammates; null when there is none with this id." })
  teammate(@Arg('id', () => ID) id: string, @Ctx() ctx: TeammateContext): Promise<Teammate | null> {
    return ctx.org.teammates.find(id);
  }

  @Query(() => TeammateConnection, { description: "The organization's teammates, oldest first." })
  teammates(@Args() args: PageArgs, @Ctx() ctx: TeammateContext, @Info() info: GraphQLResolveInfo): Promise<PageConnection<Teammate>> {
    return paginate(args, info, TEAMMATE_CURSORS, (query) => ctx.org.teammates.list(query));
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description:
      'Calls the teammate through its API channel: starts its workflow with `input` as the payload, logged in its requestLogs, ' +
      'as a turn of a conversation (`conversationId`, or a new one).',
  })
  async callTeammate(
    @Args() { teammateId, input, idempotencyKey, waitSeconds, conversationId, files, callbackUrl }: CallTeammateArgs,
    @Ctx() ctx: TeammateContext,
  ): Promise<TriggerWorkflowPayload> {
    const started = await ctx.org.teammates.call(teammateId, input, {
      idempotencyKey,
      conversationId,
      files,
      baseUrl: ctx.baseUrl,
      callbackUrl,
    });
    const run = await ctx.services.runWaiter.untilFinished(started, waitSeconds ?? 0, ctx.clientGone());
    return startedPayload(run);
  }

  @FieldResolver(() => TeammateApi, {
    description: 'How to call the teammate through its API channel: endpoint, examples and request tester.',
  })
  api(@Root() teammate: Teammate, @Ctx() ctx: TeammateContext): TeammateApi {
    const endpoint = `${ctx.baseUrl}/graphql`;
    return { endpoint, examples: teammateApiExamples(endpoint, teammate.id), playgroundUrl: teammatePlaygroundUrl(endpoint, teammate.id) };
  }

  @FieldResolver(() => RequestLogConnection, { description: 'Calls through the API channel, newest first.' })
  requestLogs(
    @Root() teammate: Teammate,
    @Args() args: RequestLogArgs,
    @Ctx() ctx: TeammateContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<ApiCallLog>> {
    return paginate(args, info, REQUEST_LOG_CURSORS, (query) => ctx.org.teammates.apiCalls(teammate.id, args, query));
  }

  @FieldResolver(() => Workflow, { description: 'The workflow the teammate runs.' })
  async workflow(@Root() teammate: Teammate, @Ctx() ctx: TeammateContext): Promise<Workflow> {
    const workflow = await workflowLoader(ctx).load(teammate.workflowId);
    if (!workflow) throw new Error(`teammate ${teammate.id} has no workflow`);
    return workflow;
  }
}
