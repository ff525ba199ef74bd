import { ConfigError, loadConfig, showsErrorDetails } from '../../src/config/config';
import { thrownBy } from '../support/thrown';

/** The one-line message loadConfig refuses `env` with (it must be a ConfigError naming `variable`). */
const refusal = (env: Record<string, string>, variable: string): string => {
  const error = thrownBy(() => loadConfig(env, '/srv/alloy'));
  expect(error).toBeInstanceOf(ConfigError);
  expect(error.variable).toBe(variable);
  return error.message;
};

describe('loadConfig: the bounds of each number, and what it says past them', () => {
  it.each([
    ['WORKFLOW_LEASE_SECONDS', 2, 3600, 'workflowLeaseSeconds'],
    ['WORKFLOW_CONCURRENCY', 1, 64, 'workflowConcurrency'],
    ['RUN_RETENTION_DAYS', 0, 36_500, 'runRetentionDays'],
    ['CALLBACK_RETRY_DELAY_SECONDS', 1, 600, 'callbackRetryDelaySeconds'],
    ['STORAGE_DELETION_DELAY_SECONDS', 0, 7 * 24 * 3600, 'storageDeletionDelaySeconds'],
    ['MAX_JSON_BODY_BYTES', 1024, 1024 * 1024 * 1024, 'maxJsonBodyBytes'],
    ['RATE_LIMIT_PER_MINUTE', 0, 10_000_000, 'rateLimit.perMinute'],
    ['MAX_ALIASES', 0, 100_000, 'queryLimits.maxAliases'],
    ['MAX_DIRECTIVES', 0, 100_000, 'queryLimits.maxDirectives'],
    ['MAX_QUERY_DEPTH', 1, 1000, 'queryLimits.maxDepth'],
  ] as const)('%s takes %d to %d', (name, min, max, field) => {
    const read = (value: number) =>
      field.split('.').reduce<any>((config, key) => config[key], loadConfig({ [name]: String(value) }, '/srv/alloy'));
    expect(read(min)).toBe(min);
    expect(read(max)).toBe(max);
    if (min > 0) expect(refusal({ [name]: String(min - 1) }, name)).toBe(`Invalid ${name}: expected ${min} to ${max}, got ${min - 1}`);
    expect(refusal({ [name]: String(max + 1) }, name)).toBe(`Invalid ${name}: expected ${min} to ${max}, got ${max + 1}`);
  });

  it('takes whole numbers only, trimmed, and quotes what it got otherwise', () => {
    expect(loadConfig({ WORKFLOW_CONCURRENCY: ' 8 ' }, '/srv/alloy').workflowConcurrency).toBe(8);
    expect(refusal({ WORKFLOW_CONCURRENCY: '-1' }, 'WORKFLOW_CONCURRENCY')).toBe(
      'Invalid WORKFLOW_CONCURRENCY: expected a whole number, got "-1"',
    );
    expect(refusal({ WORKFLOW_CONCURRENCY: '0x10' }, 'WORKFLOW_CONCURRENCY')).toBe(
      'Invalid WORKFLOW_CONCURRENCY: expected a whole number, got "0x10"',
    );
  });

  it('names the values a choice allows', () => {
    expect(refusal({ RATE_LIMIT_STORE: 'redis' }, 'RATE_LIMIT_STORE')).toBe(
      'Invalid RATE_LIMIT_STORE: expected one of postgres, memory, got "redis"',
    );
    expect(loadConfig({ RATE_LIMIT_STORE: 'memory' }, '/srv/alloy').rateLimit).toEqual({ store: 'memory', perMinute: 600 });
  });

  it('explains a DATABASE_URL that is no postgres URL', () => {
    expect(refusal({ DATABASE_URL: 'mysql://db/x' }, 'DATABASE_URL')).toBe(
      'Invalid DATABASE_URL: expected a postgres:// URL, got protocol "mysql:"',
    );
    expect(refusal({ DATABASE_URL: 'db:5432' }, 'DATABASE_URL')).toBe(
      'Invalid DATABASE_URL: expected a postgres:// URL, got protocol "db:"',
    );
    expect(refusal({ DATABASE_URL: '::' }, 'DATABASE_URL')).toBe(
      'Invalid DATABASE_URL: not a URL (expected postgres://user@host:port/database)',
    );
  });
});

describe('showsErrorDetails', () => {
  it('is true only for NODE_ENV=development set explicitly', () => {
    expect(showsErrorDetails(loadConfig({ NODE_ENV: 'development' }, '/srv/alloy'))).toBe(true);
    for (const NODE_ENV of ['', 'production', 'test'])
      expect([NODE_ENV, showsErrorDetails(loadConfig({ NODE_ENV }, '/srv/alloy'))]).toEqual([NODE_ENV, false]);
  });
});
