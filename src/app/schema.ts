import 'reflect-metadata';
import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema, NonEmptyArray, PubSub } from 'type-graphql';
import { OrganizationResolver } from '../auth/organization.resolver';
import { TeammateResolver } from '../teammates/teammate.resolver';
import { conversationResolvers } from '../teammates/conversation.resolver';
import { WorkflowResolver, WorkflowRunResolver, WorkflowRunSubscriptionResolver } from '../workflows/workflow.resolver';
import { storageResolvers } from '../storage/storage.resolver';
import { searchResolvers } from '../storage/search/search.resolver';
import { checkArgumentRules } from '../graphql/argument-rules';
import { NodeResolver } from '../graphql/node';

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

/** The gateway's schema; built once per process (type-graphql metadata is global). */
export async function gatewaySchema(): Promise<GraphQLSchema> {
  built ??= await buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    // The class-validator decorators of argument classes, refused like every other argument check.
    validateFn: checkArgumentRules,
    pubSub: NO_TOPICS,
  });
  return built;
}

/** The SDL as committed in schema/schema.graphql. */
export async function printGatewaySchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await gatewaySchema()))}\n`;
}
