import 'reflect-metadata';
import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema, NonEmptyArray, PubSub } from 'type-graphql';
import { OrganizationResolver } from '../auth/organization.resolver';
import { TeammateResolver } from '../teammates/teammate.resolver';
import { conversationResolvers } from '../teammates/conversation.resolver';
import { WorkflowResolver, WorkflowRunResolver, WorkflowRunSubscriptionResolver } from '../workflows/workflow.resolver';
import { storageResolvers } from '../storage/storage.resolver';
import { searchResolvers } from '../storage/search/search.resolver';
import { checkArgumentRules } from '../graphql/argument-rules';
import { NodeResolver } from '../graphql/node';
import { DateTimeScalar } from '../graphql/scalars';

/** Every resolver of the schema: the composition root owns the list. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- type-graphql's own type for resolver classes
export const resolvers: NonEmptyArray<Function> = [
  OrganizationResolver,
  WorkflowResolver,
  WorkflowRunResolver,
  WorkflowRunSubscriptionResolver,
  TeammateResolver,
  ...conversationResolvers,
  NodeResolver,
  ...storageResolvers,
  ...searchResolvers,
];

let built: GraphQLSchema | undefined;

/**
 * type-graphql wants a PubSub as soon as the schema has a subscription, even when each one has its
 * own `subscribe` (ours are fed by Postgres notifications, see run-updates.ts); topics are unused.
 */
const NO_TOPICS: PubSub = {
  publish() {
    throw new Error('subscriptions have their own subscribe functions; there are no topics to publish to');
  },
  subscribe() {
    throw new Error('subscriptions have their own subscribe functions; there are no topics to subscribe to');
  },
};

/**
 * Subscriptions whose handler answers each event with the event itself (`@Root()` in, the same
 * object out; their arguments, plain ID and Int without rules, are declared on the handler for the
 * schema and used once, by their `subscribe`). graphql-js calls a subscription field's resolver
 * once per event, and type-graphql's wrapper converted and checked the unchanged arguments each
 * time and made the answer a promise: about half of the execution of each streamed event, 9 of 19
 * µs of CPU (BENCHMARKS.md, run-events). Their resolvers are the identity instead. A handler that
 * does more than return its root must not be listed.
 */
const EVENT_IS_THE_ANSWER = ['workflowRunUpdated', 'workflowRunEvents'];

function answerSubscriptionsWithTheirEvent(schema: GraphQLSchema): GraphQLSchema {
  const fields = schema.getSubscriptionType()?.getFields() ?? {};
  for (const name of EVENT_IS_THE_ANSWER) {
    const field = fields[name];
    if (!field) throw new Error(`subscription ${name} is not in the schema`);
    field.resolve = (event: unknown) => event;
  }
  return schema;
}

/** The gateway's schema; built once per process (type-graphql metadata is global). */
export async function gatewaySchema(): Promise<GraphQLSchema> {
  built ??= answerSubscriptionsWithTheirEvent(
    await buildSchema({
      resolvers,
      scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
      // The class-validator decorators of argument classes, refused like every other argument check.
      validateFn: checkArgumentRules,
      pubSub: NO_TOPICS,
    }),
  );
  return built;
}

/** The SDL as committed in schema/schema.graphql. */
export async function printGatewaySchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await gatewaySchema()))}\n`;
}
