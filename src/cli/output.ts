import { GraphQLError } from 'graphql';
import { ConfigError } from '../config/config';

export interface OutputOptions {
  json?: boolean;
}

/** `--json`: exactly one JSON object on stdout. Otherwise: the human lines. */
export function print(options: OutputOptions, value: object, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

/** Errors as one JSON object (with --json) or one line on stderr; exit code 1 either way. */
export function fail(options: OutputOptions, error: unknown): never {
  const code =
    error instanceof GraphQLError ? String(error.extensions.code ?? 'ERROR') : error instanceof ConfigError ? 'INVALID_CONFIG' : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  if (options.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`alloy: ${message}\n`);
  process.exit(1);
}
