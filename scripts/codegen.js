#!/usr/bin/env node
// `npm run codegen`: TypeScript types for the operations kept in test/operations, generated from
// the committed schema with @graphql-codegen/core and its typescript plugins, called directly (the
// graphql-codegen CLI pulls in loaders, a watcher and a task runner whose dependencies want a newer
// Node than this package supports). test/codegen.test.ts runs it and compiles the result with tsc.
const fs = require('node:fs');
const path = require('node:path');
const { codegen } = require('@graphql-codegen/core');
const typescript = require('@graphql-codegen/typescript');
const typescriptOperations = require('@graphql-codegen/typescript-operations');
const { buildSchema, parse, printSchema } = require('graphql');

const ROOT = path.resolve(__dirname, '..');
const SCHEMA = path.join(ROOT, 'schema', 'schema.graphql');
const OPERATIONS = path.join(ROOT, 'test', 'operations');
const OUTPUT = path.join(ROOT, 'test', '.tmp', 'generated.ts');

async function main() {
  const schema = buildSchema(fs.readFileSync(SCHEMA, 'utf8'));
  const documents = fs
    .readdirSync(OPERATIONS)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => {
      const location = path.join(OPERATIONS, name);
      return { location, document: parse(fs.readFileSync(location, 'utf8')) };
    });
  const output = await codegen({
    filename: OUTPUT,
    schema: parse(printSchema(schema)),
    schemaAst: schema,
    documents,
    config: {
      scalars: { DateTime: 'string', JSON: 'unknown', Upload: 'unknown' },
      enumsAsTypes: true,
      strictScalars: true,
    },
    plugins: [{ typescript: {} }, { 'typescript-operations': {} }],
    pluginMap: { typescript, 'typescript-operations': typescriptOperations },
  });
  fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
  fs.writeFileSync(OUTPUT, output);
  process.stdout.write(`${path.relative(ROOT, OUTPUT)}: types of ${documents.length} operation files\n`);
}

main().catch((error) => {
  process.stderr.write(`codegen failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
