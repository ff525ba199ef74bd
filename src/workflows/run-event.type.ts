import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { JSONScalar } from '../graphql/scalars';

/*
 * A run's stored events (RunEvent in the schema). Not to be confused with the announcements of
 * run-events.ts, which only wake whoever waits: these are the record, numbered per run.
 */

export enum RunEventType {
  STATUS = 'STATUS',
  STEP_STARTED = 'STEP_STARTED',
  STEP_FINISHED = 'STEP_FINISHED',
  OUTPUT = 'OUTPUT',
}
registerEnumType(RunEventType, {
  name: 'RunEventType',
  description:
    'STATUS: the run changed status (data: the new status). STEP_STARTED / STEP_FINISHED: a step began / ended (data: the http ' +
    "answer's status code, or `{ error }`). OUTPUT: one piece of a step's streamed output (one server-sent event's data).",
});

@ObjectType('RunEvent', { description: 'One event of a run, numbered 1, 2, 3 … in the order they happened.' })
export class StoredRunEvent {
  @Field(() => Int, { description: "The event's number within its run; pass the last one seen as `after` to resume." })
  seq: number;

  @Field(() => RunEventType)
  type: RunEventType;

  @Field(() => String, { nullable: true, description: 'The step the event is about (null for STATUS).' })
  step: string | null;

  @Field(() => JSONScalar, { nullable: true })
  data: unknown;

  @Field()
  at: Date;
}
