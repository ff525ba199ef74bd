// The contract's scalars: `JSON` (any JSON value) and `DateTime` (ISO-8601, mapped from Date in
// schema.ts). `Upload` lives with storage.
import { GraphQLScalarType } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';

export { GraphQLJSON as JSONScalar } from 'graphql-scalars';

/**
 * graphql-scalars' DateTime (same name, description, input rules and answers), serialized to its
 * ISO string here rather than left a Date for the transport's JSON.stringify: stringify calls each
 * Date's `toJSON`, which cost a listing of 25 files about 67 µs of CPU (a file node took 4.4 µs to
 * stringify against 1.7 µs with the string; BENCHMARKS.md, issue 22).
 */
export const DateTimeScalar = new GraphQLScalarType({
  ...GraphQLDateTime.toConfig(),
  serialize: (value) => (GraphQLDateTime.serialize(value) as Date).toISOString(),
});
