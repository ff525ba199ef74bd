// `npx graphql-codegen`: TypeScript types for the operations kept in test/operations, generated
// from the committed schema. test/codegen.test.ts runs it and compiles the result with tsc.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  overwrite: true,
  schema: 'schema/schema.graphql',
  documents: 'test/operations/*.graphql',
  generates: {
    'test/.tmp/generated.ts': {
      plugins: ['typescript', 'typescript-operations'],
      config: {
        scalars: { DateTime: 'string', JSON: 'unknown', Upload: 'unknown' },
        enumsAsTypes: true,
        strictScalars: true,
      },
    },
  },
};

export default config;
