import { Field, ID, Int, ObjectType } from 'type-graphql';
import { JSONScalar } from '../graphql/scalars';
import type { WorkflowDefinition } from './definition';

@ObjectType({ description: 'A workflow definition of the organization; start it with `triggerWorkflow`.' })
export class Workflow {
  @Field(() => ID, { description: 'The workflow id that `triggerWorkflow` and the admin CLI take.' })
  id: string;

  @Field({ description: "The definition's `name`." })
  name: string;

  @Field(() => String, { nullable: true, description: 'The step runs begin with; null when the definition names no existing step.' })
  startStep: string | null;

  @Field({ description: 'Whether `triggerWorkflow` can start it (it has a valid `startStep`).' })
  startable: boolean;

  @Field(() => JSONScalar, { description: 'The current definition (as created, or as last updated).' })
  definition: WorkflowDefinition;

  @Field(() => Int, {
    description: 'The current version: 1 when created, one more with each update. A run keeps the version it started with.',
  })
  version: number;

  @Field({ description: 'When the workflow was created.' })
  createdAt: Date;

  @Field({ description: 'When the definition last changed (the creation time until the first update).' })
  updatedAt: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'When the workflow was deleted; only a run (or request log) of it still leads here. Null while it exists.',
  })
  deletedAt: Date | null;
}
