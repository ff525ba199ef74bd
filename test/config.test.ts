import path from 'node:path';
import { ConfigError, loadConfig, MAX_UPLOAD_BYTES_DEFAULT } from '../src/config/config';
import { runCli } from './support/process';

const CWD = '/srv/alloy';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, CWD);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has the documented defaults for an empty environment', () => {
    expect(loadConfig({}, CWD)).toEqual({
      port: 4000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      storageDriver: 'disk',
      storageDir: path.join(CWD, '.data', 'objects'),
      gcsBucket: undefined,
      maxUploadBytes: 10485760,
      storageDeletionDelaySeconds: 60,
      logLevel: 'info',
      logFormat: undefined,
      nodeEnv: 'production',
      dataDir: path.join(CWD, '.data'),
      urlSigningSecret: undefined,
      queryLimits: { maxDepth: 10, maxCost: 5000, maxAliases: 15, maxTokens: 2000, maxDirectives: 20 },
      maxJsonBodyBytes: 2 * 1024 * 1024,
      rateLimit: { store: 'postgres', perMinute: 600 },
      workflowLeaseSeconds: 30,
      workflowConcurrency: 4,
      runRetentionDays: 90,
      callbackRetryDelaySeconds: 10,
      fileVersionsKeep: 10,
      fileVersionDays: 30,
      trashRetentionDays: 30,
      textExtractionMaxBytes: 10 * 1024 * 1024,
    });
    expect(MAX_UPLOAD_BYTES_DEFAULT).toBe(10 * 1024 * 1024);
  });

  it('treats empty and blank values as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '  ', STORAGE_DRIVER: '' }, CWD)).toMatchObject({
      port: 4000,
      databaseUrl: undefined,
      storageDriver: 'disk',
    });
  });

  describe.each([
    ['PORT', '8080', { port: 8080 }],
    ['PORT', '0', { port: 0 }],
    ['PORT', ' 65535 ', { port: 65535 }],
    ['HOST', '0.0.0.0', { host: '0.0.0.0' }],
    ['HOST', '::1', { host: '::1' }],
    ['HOST', 'gateway.internal', { host: 'gateway.internal' }],
    ['DATABASE_URL', 'postgres://u:p@db:5432/alloy', { databaseUrl: 'postgres://u:p@db:5432/alloy' }],
    ['DATABASE_URL', 'postgresql://db/alloy', { databaseUrl: 'postgresql://db/alloy' }],
    ['STORAGE_DRIVER', 'disk', { storageDriver: 'disk' }],
    ['STORAGE_DIR', 'blobs', { storageDir: path.join(CWD, 'blobs') }],
    ['STORAGE_DIR', '/var/alloy', { storageDir: '/var/alloy' }],
    ['STORAGE_DELETION_DELAY_SECONDS', '0', { storageDeletionDelaySeconds: 0 }],
    ['RUN_RETENTION_DAYS', '0', { runRetentionDays: 0 }],
    ['RUN_RETENTION_DAYS', '365', { runRetentionDays: 365 }],
    ['FILE_VERSIONS_KEEP', '1', { fileVersionsKeep: 1 }],
    ['FILE_VERSION_DAYS', '0', { fileVersionDays: 0 }],
    ['TRASH_RETENTION_DAYS', '0', { trashRetentionDays: 0 }],
    ['TRASH_RETENTION_DAYS', '7', { trashRetentionDays: 7 }],
    ['TEXT_EXTRACTION_MAX_BYTES', '1024', { textExtractionMaxBytes: 1024 }],
    ['GCS_BUCKET', 'my-bucket.v2', { gcsBucket: 'my-bucket.v2' }],
    // Read by @google-cloud/storage itself: only checked.
    ['STORAGE_EMULATOR_HOST', '127.0.0.1:9199', {}],
    ['STORAGE_EMULATOR_HOST', 'http://localhost:9199', {}],
    ['MAX_UPLOAD_BYTES', '1', { maxUploadBytes: 1 }],
    ['MAX_UPLOAD_BYTES', '1048576', { maxUploadBytes: 1048576 }],
    ['LOG_LEVEL', 'debug', { logLevel: 'debug' }],
    ['LOG_LEVEL', 'silent', { logLevel: 'silent' }],
    ['LOG_FORMAT', 'json', { logFormat: 'json' }],
    ['LOG_FORMAT', 'pretty', { logFormat: 'pretty' }],
    ['NODE_ENV', 'development', { nodeEnv: 'development' }],
    ['NODE_ENV', 'production', { nodeEnv: 'production' }],
    ['NODE_ENV', 'test', { nodeEnv: 'test' }],
    ['URL_SIGNING_SECRET', 'x'.repeat(32), { urlSigningSecret: 'x'.repeat(32) }],
    ['ALLOY_DATA_DIR', 'state', { dataDir: path.join(CWD, 'state'), storageDir: path.join(CWD, 'state', 'objects') }],
  ])('%s=%j', (name, value, expected) => {
    it('is accepted', () => {
      expect(loadConfig({ [name]: value }, CWD)).toMatchObject(expected);
    });
  });

  it('accepts STORAGE_DRIVER=gcs together with GCS_BUCKET', () => {
    expect(loadConfig({ STORAGE_DRIVER: 'gcs', GCS_BUCKET: 'alloy-files' }, CWD)).toMatchObject({
      storageDriver: 'gcs',
      gcsBucket: 'alloy-files',
    });
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '65536' }],
    ['PORT', { PORT: '80.5' }],
    ['HOST', { HOST: 'two words' }],
    ['HOST', { HOST: 'http://host/' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['STORAGE_DRIVER', { STORAGE_DRIVER: 's3' }],
    ['STORAGE_DRIVER', { STORAGE_DRIVER: 'DISK' }],
    ['GCS_BUCKET', { STORAGE_DRIVER: 'gcs' }],
    ['GCS_BUCKET', { GCS_BUCKET: 'Upper_Case' }],
    ['GCS_BUCKET', { GCS_BUCKET: 'a' }],
    ['STORAGE_EMULATOR_HOST', { STORAGE_EMULATOR_HOST: 'host with spaces:9199' }],
    ['MAX_UPLOAD_BYTES', { MAX_UPLOAD_BYTES: '0' }],
    ['MAX_UPLOAD_BYTES', { MAX_UPLOAD_BYTES: '10MB' }],
    ['MAX_UPLOAD_BYTES', { MAX_UPLOAD_BYTES: '1e6' }],
    ['FILE_VERSIONS_KEEP', { FILE_VERSIONS_KEEP: '0' }],
    ['FILE_VERSION_DAYS', { FILE_VERSION_DAYS: '-1' }],
    ['TRASH_RETENTION_DAYS', { TRASH_RETENTION_DAYS: '30d' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['LOG_FORMAT', { LOG_FORMAT: 'yaml' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['URL_SIGNING_SECRET', { URL_SIGNING_SECRET: 'too-short' }],
  ])('refuses a bad %s (%j) with a one-line message naming it', (name, env) => {
    const error = configError(env);
    expect(error.variable).toBe(name);
    expect(error.message).toMatch(new RegExp(`^Invalid ${name}: `));
    expect(error.message).not.toContain('\n');
  });
});

describe('alloy serve with a malformed variable', () => {
  it.each([
    ['PORT', 'abc'],
    ['STORAGE_DRIVER', 's3'],
    ['DATABASE_URL', 'mysql://x'],
  ])('%s=%s stops start-up with one line naming the variable and a non-zero exit code', async (name, value) => {
    // ALLOY_DATA_DIR points nowhere useful: should the value be accepted by mistake, nothing real starts.
    const result = await runCli(['serve'], { [name]: value, ALLOY_DATA_DIR: '/nonexistent/alloy-config-test' });
    expect(result.signal).toBeNull();
    expect(result.code).not.toBe(0);
    const output = `${result.stdout}${result.stderr}`.trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toMatch(new RegExp(`\\b${name}\\b`));
  });
});
