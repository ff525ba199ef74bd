import pino, { Logger } from 'pino';
import type { LogLevel } from '../config/config';

export type { Logger };

/** JSON logs on stdout. Keys are redacted wherever a header object is logged by mistake. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: ['req.headers["api-key"]', 'req.headers.authorization', 'apiKey', '*.apiKey'], censor: '[redacted]' },
  });
}
