import path from 'node:path';

export type StorageDriverName = 'disk' | 'gcs';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'json' | 'pretty';

export interface Config {
  port: number;
  host: string;
  /** Absent means: start the embedded PostgreSQL server under `.data/`. */
  databaseUrl: string | undefined;
  storageDriver: StorageDriverName;
  storageDir: string;
  gcsBucket: string | undefined;
  maxUploadBytes: number;
  /** How long a replaced or deleted object outlives its row (downloads in flight finish); tests set 0. */
  storageDeletionDelaySeconds: number;
  logLevel: LogLevel;
  /** Unset means: short readable lines when stdout is a terminal, JSON lines otherwise. */
  logFormat: LogFormat | undefined;
  /** Unset means production: only an explicit NODE_ENV=development shows stack traces and internal messages. */
  nodeEnv: 'development' | 'production' | 'test';
  /** Root for everything the gateway keeps on local disk (embedded Postgres, objects). */
  dataDir: string;
  /** Key for HMAC-signed download URLs of the disk driver; if absent one is kept in the database. */
  urlSigningSecret: string | undefined;
  /** Query limits (see src/limits/query-limits.ts); a query over any of them gets QUERY_TOO_COMPLEX. */
  queryLimits: QueryLimits;
  /** JSON request bodies larger than this are refused with 413 before parsing. */
  maxJsonBodyBytes: number;
  rateLimit: RateLimitConfig;
  /** How long a workflow worker's claim on a run lasts unrenewed; bounds how long a dead worker's run stays RUNNING. */
  workflowLeaseSeconds: number;
  /** Workflow runs one worker process executes at once. */
  workflowConcurrency: number;
  /** Finished runs (and so their request logs) older than this many days are deleted; 0 keeps them all. */
  runRetentionDays: number;
  /** Files larger than this are not read for search (their textStatus is FAILED); the rest of the text is cut at MAX_INDEXED_TEXT_CHARS. */
  textExtractionMaxBytes: number;
  /** Completion callbacks: the first retry's delay in seconds; each next one about doubles, for more than an hour in all. */
  callbackRetryDelaySeconds: number;
  /** A file's newest versions kept whatever their age (the current content counts as one). */
  fileVersionsKeep: number;
  /** Versions younger than this many days are kept however many there are. */
  fileVersionDays: number;
  /** Trash items older than this many days are removed for good; 0 keeps them until emptied. */
  trashRetentionDays: number;
}

export interface QueryLimits {
  maxDepth: number;
  /** Cost: one per field, a connection's selection multiplied by its `first` (default 20). */
  maxCost: number;
  maxAliases: number;
  /** Lexical tokens of the query document. */
  maxTokens: number;
  maxDirectives: number;
}

export type RateLimitStoreName = 'postgres' | 'memory';

export interface RateLimitConfig {
  /** `postgres` shares the budget between every gateway process on the database; `memory` is per process. */
  store: RateLimitStoreName;
  /** Requests per API key per minute; 0 turns rate limiting off. */
  perMinute: number;
}

/** A configuration problem, reported to the operator as one line that names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid ${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * Whether answers may carry stack traces and internal error messages: only with NODE_ENV=development
 * set explicitly. Everywhere else (unset, production, test) they are masked and go to the log only.
 */
export const showsErrorDetails = (config: Pick<Config, 'nodeEnv'>): boolean => config.nodeEnv === 'development';

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min} to ${max}, got ${raw}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function postgresUrl(env: Env, name: string): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'not a URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(name, `expected a postgres:// URL, got protocol "${url.protocol}"`);
  }
  return raw;
}

/** Refuses a value that is neither `host:port` nor an http(s) URL. */
function checkHostPort(env: Env, name: string): void {
  const raw = read(env, name);
  if (raw === undefined) return;
  const withScheme = /^https?:\/\//.test(raw) ? raw : `http://${raw}`;
  try {
    const url = new URL(withScheme);
    if (!url.hostname) throw new Error('no host');
  } catch {
    throw new ConfigError(name, `expected host:port or an http(s) URL, got "${raw}"`);
  }
}

export const MAX_UPLOAD_BYTES_DEFAULT = 10 * 1024 * 1024;

export const QUERY_LIMIT_DEFAULTS: QueryLimits = {
  maxDepth: 10,
  maxCost: 5000,
  maxAliases: 15,
  maxTokens: 2000,
  maxDirectives: 20,
};
export const MAX_JSON_BODY_BYTES_DEFAULT = 2 * 1024 * 1024;
export const RATE_LIMIT_PER_MINUTE_DEFAULT = 600;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dataDir = path.resolve(cwd, read(env, 'ALLOY_DATA_DIR') ?? '.data');
  const storageDriver = oneOf(env, 'STORAGE_DRIVER', ['disk', 'gcs'] as const, 'disk');
  const gcsBucket = read(env, 'GCS_BUCKET');
  if (storageDriver === 'gcs' && !gcsBucket) {
    throw new ConfigError('GCS_BUCKET', 'required when STORAGE_DRIVER=gcs');
  }
  if (gcsBucket && !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(gcsBucket)) {
    throw new ConfigError('GCS_BUCKET', `"${gcsBucket}" is not a valid bucket name`);
  }
  const host = read(env, 'HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError('HOST', `"${host}" is not a host name or address`);
  const nodeEnv = oneOf(env, 'NODE_ENV', ['development', 'production', 'test'] as const, 'production');
  // @google-cloud/storage reads it from the environment itself; checked here so that a typo is
  // told at start-up in one line, as for every other variable.
  checkHostPort(env, 'STORAGE_EMULATOR_HOST');
  const secret = read(env, 'URL_SIGNING_SECRET');
  if (secret !== undefined && secret.length < 32) {
    throw new ConfigError('URL_SIGNING_SECRET', 'must be at least 32 characters');
  }
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host,
    databaseUrl: postgresUrl(env, 'DATABASE_URL'),
    storageDriver,
    storageDir: path.resolve(cwd, read(env, 'STORAGE_DIR') ?? path.join(dataDir, 'objects')),
    gcsBucket,
    maxUploadBytes: integer(env, 'MAX_UPLOAD_BYTES', MAX_UPLOAD_BYTES_DEFAULT, 1, 5 * 1024 * 1024 * 1024),
    storageDeletionDelaySeconds: integer(env, 'STORAGE_DELETION_DELAY_SECONDS', 60, 0, 7 * 24 * 3600),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    logFormat: read(env, 'LOG_FORMAT') === undefined ? undefined : oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    nodeEnv,
    dataDir,
    urlSigningSecret: secret,
    queryLimits: {
      maxDepth: integer(env, 'MAX_QUERY_DEPTH', QUERY_LIMIT_DEFAULTS.maxDepth, 1, 1000),
      maxCost: integer(env, 'MAX_QUERY_COST', QUERY_LIMIT_DEFAULTS.maxCost, 1, 1_000_000_000),
      maxAliases: integer(env, 'MAX_ALIASES', QUERY_LIMIT_DEFAULTS.maxAliases, 0, 100_000),
      maxTokens: integer(env, 'MAX_TOKENS', QUERY_LIMIT_DEFAULTS.maxTokens, 1, 10_000_000),
      maxDirectives: integer(env, 'MAX_DIRECTIVES', QUERY_LIMIT_DEFAULTS.maxDirectives, 0, 100_000),
    },
    maxJsonBodyBytes: integer(env, 'MAX_JSON_BODY_BYTES', MAX_JSON_BODY_BYTES_DEFAULT, 1024, 1024 * 1024 * 1024),
    rateLimit: {
      store: oneOf(env, 'RATE_LIMIT_STORE', ['postgres', 'memory'] as const, 'postgres'),
      perMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', RATE_LIMIT_PER_MINUTE_DEFAULT, 0, 10_000_000),
    },
    workflowLeaseSeconds: integer(env, 'WORKFLOW_LEASE_SECONDS', 30, 2, 3600),
    workflowConcurrency: integer(env, 'WORKFLOW_CONCURRENCY', 4, 1, 64),
    runRetentionDays: integer(env, 'RUN_RETENTION_DAYS', 90, 0, 36_500),
    textExtractionMaxBytes: integer(env, 'TEXT_EXTRACTION_MAX_BYTES', MAX_UPLOAD_BYTES_DEFAULT, 1, 1024 * 1024 * 1024),
    callbackRetryDelaySeconds: integer(env, 'CALLBACK_RETRY_DELAY_SECONDS', 10, 1, 600),
    fileVersionsKeep: integer(env, 'FILE_VERSIONS_KEEP', 10, 1, 10_000),
    fileVersionDays: integer(env, 'FILE_VERSION_DAYS', 30, 0, 36_500),
    trashRetentionDays: integer(env, 'TRASH_RETENTION_DAYS', 30, 0, 36_500),
  };
}
