import { Field, ID, Int, ObjectType } from 'type-graphql';
import { JSONScalar } from '../graphql/scalars';
import { WorkflowRunStatus } from '../workflows/workflow-run.type';

/**
 * One call of a teammate through its API channel: the run it started, seen as request and
 * response. Named RequestLog in the schema (a teammate's `requestLogs`); not to be confused with
 * the gateway's log line per HTTP request (src/observability/request-log.ts).
 */
@ObjectType('RequestLog', { description: "One call of a teammate through its API channel: the request, the run's result and timing." })
export class ApiCallLog {
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

  @Field(() => ID, { nullable: true, description: 'The conversation the call was a turn of; null once that conversation was deleted.' })
  conversationId: string | null;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;
}
