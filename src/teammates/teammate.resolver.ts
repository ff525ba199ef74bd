import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Int, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, requirePrincipal } from '../graphql/context';
import { PageInfo } from '../graphql/relay';
import { JSONScalar } from '../graphql/scalars';
import { WorkflowRunStatus } from '../workflows/workflow-run.entity';
import { Workflow } from '../workflows/workflow.entity';
import { waitSecondsOf } from '../workflows/run-waiter';
import { TriggerWorkflowPayload, WAIT_SECONDS_DESCRIPTION, workflowLoader } from '../workflows/workflow.resolver';
import { teammateApiExamples, teammatePlaygroundUrl } from './api-examples';
import { RequestLogConnection } from './request-log';
import { Teammate } from './teammate.entity';

@ObjectType({ description: "A ready-to-paste example of calling a teammate through its API channel, with the teammate's id filled in." })
export class ApiExample {
  @Field({ description: 'What the code is written in: `curl`, `graphql` or `javascript`.' })
  language: string;

  @Field({ description: 'One line saying what the example is and where it takes the API key from.' })
  title: string;

  @Field({ description: 'The example itself, to paste as it is (it reads the key from ALLOY_API_KEY, or leaves it to the api-key header).' })
  code: string;
}

@ObjectType({ description: 'How to call a teammate through its API channel: what a product shows on its API tab.' })
export class TeammateApi {
  @Field({ description: 'The absolute GraphQL endpoint to send `callTeammate` to.' })
  endpoint: string;

  @Field(() => [ApiExample], { description: 'Ready-to-paste examples in `curl`, `graphql` and `javascript`, in that order.' })
  examples: ApiExample[];

  @Field({
    description:
      'The request tester: opens the playground with this teammate\'s `callTeammate` operation and its variables filled in; ' +
      'paste an API key into the `api-key` header and run it.',
  })
  playgroundUrl: string;
}

@ObjectType()
export class TeammateEdge {
  @Field()
  cursor: string;

  @Field(() => Teammate)
  node: Teammate;
}

@ObjectType()
export class TeammateConnection {
  @Field(() => [TeammateEdge])
  edges: TeammateEdge[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;

  @Field(() => Int)
  totalCount: number;
}

@ArgsType()
class PageArgs {
  @Field(() => Int, { nullable: true, description: 'At most 100; 20 when omitted.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@ArgsType()
class RequestLogArgs extends PageArgs {
  @Field(() => WorkflowRunStatus, { nullable: true })
  status?: WorkflowRunStatus | null;

  @Field(() => Date, { nullable: true, description: 'Only logs created at or after this time.' })
  since?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Only logs created before this time.' })
  until?: Date | null;
}

@Resolver(() => Teammate)
export class TeammateResolver {
  @Query(() => Teammate, { nullable: true, description: "One of the organization's teammates; null when there is none with this id." })
  teammate(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Teammate | null> {
    return ctx.services.teammates.findTeammate(requirePrincipal(ctx).organizationId, id);
  }

  @Query(() => TeammateConnection, { description: "The organization's teammates, oldest first." })
  teammates(@Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext): Promise<TeammateConnection> {
    return ctx.services.teammates.listTeammates(requirePrincipal(ctx).organizationId, first, after);
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description: "Calls the teammate through its API channel: starts its workflow with `input` as the payload, logged in its requestLogs.",
  })
  async callTeammate(
    @Arg('teammateId', () => ID) teammateId: string,
    @Arg('input', () => JSONScalar) input: unknown,
    @Arg('idempotencyKey', () => String, { nullable: true }) idempotencyKey: string | null,
    @Arg('waitSeconds', () => Int, { nullable: true, defaultValue: 0, description: WAIT_SECONDS_DESCRIPTION }) waitSeconds: number | null,
    @Ctx() ctx: GatewayContext,
  ): Promise<TriggerWorkflowPayload> {
    const wait = waitSecondsOf(waitSeconds);
    const started = await ctx.services.teammates.callTeammate(requirePrincipal(ctx), teammateId, input, idempotencyKey);
    const run = await ctx.services.runWaiter.untilFinished(started, wait, ctx.clientGone());
    return { runId: run.id, run };
  }

  @FieldResolver(() => TeammateApi, { description: 'How to call the teammate through its API channel: endpoint, examples and request tester.' })
  api(@Root() teammate: Teammate, @Ctx() ctx: GatewayContext): TeammateApi {
    const endpoint = `${ctx.baseUrl}/graphql`;
    return { endpoint, examples: teammateApiExamples(endpoint, teammate.id), playgroundUrl: teammatePlaygroundUrl(endpoint, teammate.id) };
  }

  @FieldResolver(() => RequestLogConnection, { description: "Calls through the API channel, newest first." })
  requestLogs(@Root() teammate: Teammate, @Args() args: RequestLogArgs, @Ctx() ctx: GatewayContext): Promise<RequestLogConnection> {
    return ctx.services.teammates.requestLogs(requirePrincipal(ctx).organizationId, teammate.id, args);
  }

  @FieldResolver(() => Workflow, { description: 'The workflow the teammate runs.' })
  async workflow(@Root() teammate: Teammate, @Ctx() ctx: GatewayContext): Promise<Workflow> {
    const workflow = await workflowLoader(ctx).load(teammate.workflowId);
    if (!workflow) throw new Error(`teammate ${teammate.id} has no workflow`);
    return workflow;
  }
}
