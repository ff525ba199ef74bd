import DataLoader from 'dataloader';
import { Arg, Ctx, Field, FieldResolver, ID, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader, requirePrincipal } from '../graphql/context';
import { JSONScalar } from '../graphql/scalars';
import { WorkflowRun } from './workflow-run.entity';
import { Workflow } from './workflow.entity';

@ObjectType({ description: 'The run that was started (or, for a repeated idempotencyKey, the run started the first time).' })
export class TriggerWorkflowPayload {
  @Field(() => ID)
  runId: string;

  @Field(() => WorkflowRun)
  run: WorkflowRun;
}

/** The request's loader of the organization's workflows by id: one query per request, whatever the number of runs. */
export function workflowLoader(ctx: GatewayContext): DataLoader<string, Workflow | null> {
  const { organizationId } = requirePrincipal(ctx);
  return loader(ctx, 'workflowsById', () => new DataLoader((ids: readonly string[]) => ctx.services.workflows.workflowsByIds(organizationId, ids)));
}

@Resolver()
export class WorkflowResolver {
  @Query(() => Workflow, { nullable: true, description: "One of the organization's workflows; null when there is none with this id." })
  workflow(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Workflow | null> {
    return ctx.services.workflows.findWorkflow(requirePrincipal(ctx).organizationId, id);
  }

  @Query(() => WorkflowRun, { nullable: true, description: "One of the organization's workflow runs; null when there is none with this id." })
  workflowRun(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<WorkflowRun | null> {
    return ctx.services.workflows.findRun(requirePrincipal(ctx).organizationId, id);
  }

  @Mutation(() => TriggerWorkflowPayload, {
    description:
      'Starts a run of the workflow with this payload (at most 1 MB of JSON). The same idempotencyKey within 24 hours returns the first run.',
  })
  async triggerWorkflow(
    @Arg('workflowId', () => ID) workflowId: string,
    @Arg('payload', () => JSONScalar, { nullable: true }) payload: unknown,
    @Arg('idempotencyKey', () => String, { nullable: true }) idempotencyKey: string | null,
    @Ctx() ctx: GatewayContext,
  ): Promise<TriggerWorkflowPayload> {
    const principal = requirePrincipal(ctx);
    const run = await ctx.services.workflows.startRun({
      organizationId: principal.organizationId,
      workflowId,
      payload,
      idempotencyKey,
      channel: 'TRIGGER',
      apiKeyId: principal.keyId,
    });
    return { runId: run.id, run };
  }
}

@Resolver(() => WorkflowRun)
export class WorkflowRunResolver {
  @FieldResolver(() => Workflow)
  async workflow(@Root() run: WorkflowRun, @Ctx() ctx: GatewayContext): Promise<Workflow> {
    const workflow = await workflowLoader(ctx).load(run.workflowId);
    if (!workflow) throw new Error(`run ${run.id} has no workflow`);
    return workflow;
  }
}
