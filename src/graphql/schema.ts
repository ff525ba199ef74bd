import 'reflect-metadata';
import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema, NonEmptyArray } from 'type-graphql';
import { OrganizationResolver } from '../auth/organization.resolver';
import { TeammateResolver } from '../teammates/teammate.resolver';
import { WorkflowResolver, WorkflowRunResolver } from '../workflows/workflow.resolver';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const resolvers: NonEmptyArray<Function> = [OrganizationResolver, WorkflowResolver, WorkflowRunResolver, TeammateResolver];

let built: GraphQLSchema | undefined;

/** The gateway's schema; built once per process (type-graphql metadata is global). */
export async function gatewaySchema(): Promise<GraphQLSchema> {
  built ??= await buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    validate: { forbidUnknownValues: false },
  });
  return built;
}

/** The SDL as committed in schema/schema.graphql. */
export async function printGatewaySchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await gatewaySchema()))}\n`;
}
