// The contract's scalars: `JSON` (any JSON value) and `DateTime` (ISO-8601, mapped from Date in
// schema.ts). `Upload` lives with storage.
export { GraphQLJSON as JSONScalar } from 'graphql-scalars';
