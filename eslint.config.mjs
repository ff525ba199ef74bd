// ESLint (flat config): typescript-eslint's recommended rules, no import cycles between files
// (test/architecture.test.ts checks the folders), and formatting left to Prettier
// (eslint-config-prettier turns the style rules off). `npm test` runs it before the suites.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.data/', 'coverage/', 'schema/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // import-x's TypeScript settings (parser and extensions of the files it follows), no rules of its own.
  { files: ['**/*.ts'], ...importX.flatConfigs.typescript, rules: {} },
  {
    files: ['**/*.ts'],
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: ['tsconfig.json', 'test/tsconfig.json'], noWarnOnMultipleProjects: true }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // A leading underscore marks a parameter or binding left unused on purpose (Express's
      // four-argument error handlers, a field taken out of an object with a rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests and benchmarks read GraphQL answers, which are untyped JSON, field by field.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  prettier,
);
