// ESLint (flat config): typescript-eslint's recommended rules, no import cycles between files,
// and Prettier's formatting left to Prettier (eslint-config-prettier turns the style rules off).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.data/', 'coverage/', 'schema/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { typescript: { project: ['tsconfig.json', 'test/tsconfig.json'] }, node: true } },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  prettier,
);
