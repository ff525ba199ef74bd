import pino, { DestinationStream, Logger } from 'pino';
import type { LogLevel } from '../config/config';

export type { Logger };

/**
 * JSON logs on stdout (or `destination`, e.g. a stream a test reads). Keys are redacted wherever a
 * header object is logged by mistake.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['req.headers["api-key"]', 'req.headers.authorization', 'headers["api-key"]', 'apiKey', '*.apiKey'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
