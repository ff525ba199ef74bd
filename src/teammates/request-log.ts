import { Field, ID, Int, ObjectType } from 'type-graphql';
import { PageInfo } from '../graphql/relay';
import { JSONScalar } from '../graphql/scalars';
import { WorkflowRunStatus } from '../workflows/workflow-run.entity';

@ObjectType({ description: "One call of a teammate through its API channel: the request, the run's result and timing." })
export class RequestLog {
  @Field(() => ID, { description: 'The same as runId: each API call is one run.' })
  id: string;

  @Field(() => ID)
  runId: string;

  @Field(() => WorkflowRunStatus)
  status: WorkflowRunStatus;

  @Field(() => JSONScalar, { nullable: true, description: 'The input the caller sent.' })
  request: unknown;

  @Field(() => JSONScalar, { nullable: true, description: "The run's output once it SUCCEEDED." })
  response: unknown;

  @Field(() => String, { nullable: true })
  error: string | null;

  @Field(() => Int, { nullable: true, description: 'From the call to the end of the run; null while it runs.' })
  durationMs: number | null;

  @Field(() => ID, { nullable: true, description: 'The API key that made the call.' })
  apiKeyId: string | null;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;
}

@ObjectType()
export class RequestLogEdge {
  @Field()
  cursor: string;

  @Field(() => RequestLog)
  node: RequestLog;
}

@ObjectType({ description: 'Newest first.' })
export class RequestLogConnection {
  @Field(() => [RequestLogEdge])
  edges: RequestLogEdge[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;

  /** Counted only when asked for. */
  countAll: () => Promise<number>;

  @Field(() => Int, { description: 'How many logs match the filters (all pages).' })
  totalCount(): Promise<number> {
    return this.countAll();
  }
}
