import { GraphQLError } from 'graphql';
import { ConfigError } from '../config/config';
import { describeDatabaseError, isDatabaseUnavailable } from '../db/unavailable';
import { StartupError } from '../config/startup-error';
import { ImportDirectoryError } from '../storage/import-directory';

export interface OutputOptions {
  json?: boolean;
}

/** `--json` anywhere before a `--` terminator: every answer, usage errors included, is one JSON object. */
export function wantsJson(argv: readonly string[] = process.argv): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** The command's own flag, or `--json` on the command line (where commander may have read it as another option's value). */
const json = (options: OutputOptions): boolean => options.json === true || wantsJson();

/** `--json`: exactly one JSON object on stdout. Otherwise: the human lines. */
export function print(options: OutputOptions, value: object, human: () => string): void {
  process.stdout.write(json(options) ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

export interface CliError {
  code: string;
  message: string;
}

/** A command that refuses to go on (e.g. `org delete` without --yes), with one of the CLI's own codes. */
export class CliRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliRefusal';
  }
}

/**
 * What a user is told about a failed command. Errors meant for users (the contract's codes,
 * configuration and start-up problems) keep their message; an outage says so by its code; anything
 * else is a bug whose message (SQL, paths, driver text) is shown only with NODE_ENV=development.
 */
export function describeCliError(error: unknown, env: NodeJS.ProcessEnv = process.env): CliError {
  if (error instanceof GraphQLError && typeof error.extensions.code === 'string' && error.extensions.code !== 'INTERNAL_SERVER_ERROR') {
    return { code: error.extensions.code, message: error.message };
  }
  if (error instanceof ConfigError) return { code: 'INVALID_CONFIG', message: error.message };
  if (error instanceof CliRefusal) return { code: error.code, message: error.message };
  if (error instanceof StartupError) return { code: error.code, message: error.message };
  if (error instanceof ImportDirectoryError) return { code: error.code, message: error.message };
  if (isDatabaseUnavailable(error)) {
    const { code } = describeDatabaseError(error);
    return {
      code: 'DATABASE_UNAVAILABLE',
      message: `The database cannot be reached${code ? ` (${code})` : ''}: check DATABASE_URL and that PostgreSQL is running`,
    };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return {
    code: 'INTERNAL_ERROR',
    message: env.NODE_ENV === 'development' ? detail : 'Internal error; run the command again with NODE_ENV=development to see what failed',
  };
}

/** Writes one failure: one JSON object on stdout (with --json) or one line on stderr. */
export function report(options: OutputOptions, failure: CliError): void {
  if (json(options)) process.stdout.write(`${JSON.stringify({ error: failure })}\n`);
  else process.stderr.write(`alloy: ${failure.message}\n`);
}

/** Errors as one JSON object (with --json) or one line on stderr; exit code 1 either way. */
export function fail(options: OutputOptions, error: unknown): never {
  report(options, describeCliError(error));
  if (process.env.NODE_ENV === 'development' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
