/**
 * What an answer must never hold when NODE_ENV is not development: a stack trace, a path of the
 * server's files, SQL or a driver's message. The fuzz tests look for these in every answer.
 */
export const STACK_OR_SQL = [
  /\n\s+at .+:\d+:\d+/,
  /\bat (async )?[\w.<>]+ \(\//,
  /node_modules/,
  /\/src\/\w+/,
  /\.ts:\d+/,
  /\bSELECT\b.+\bFROM\b/i,
  /\bINSERT INTO\b/i,
  /\bUPDATE\b.+\bSET\b/i,
  /syntax error at or near/,
  /relation ".+" does not exist/,
  /QueryFailedError/,
  /invalid input syntax for type/,
  /violates .* constraint/,
  /unsupported Unicode escape/,
  /invalid byte sequence/,
  /stacktrace/,
];
