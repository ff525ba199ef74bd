/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
  // Each test file gets its own database, so files can run side by side on the two cores.
  maxWorkers: 2,
  testTimeout: 60_000,
  setupFiles: ['reflect-metadata'],
};
