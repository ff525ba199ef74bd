import pino, { DestinationStream, Logger } from 'pino';
import type { LogFormat, LogLevel } from '../config/config';

export type { Logger };

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const MAX_VALUE_CHARS = 80;

const shortValue = (value: unknown): string => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
};

/**
 * One of pino's JSON lines as a line for people: `21:04:05 info  listening  url=http://…`; an
 * error by its message (its stack stays in the JSON format), long values cut short. A line that is
 * not JSON is passed through.
 */
export function readableLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, err, ...fields } = entry;
  const clock = new Date(typeof time === 'number' ? time : Date.now()).toTimeString().slice(0, 8);
  const parts = Object.entries(fields).map(([key, value]) => `${key}=${shortValue(value)}`);
  if (err && typeof err === 'object') parts.push(`err=${shortValue((err as { message?: unknown }).message ?? err)}`);
  const name = LEVEL_NAMES[level as number] ?? String(level);
  return `${clock} ${name.padEnd(5)} ${typeof msg === 'string' ? msg : ''}${parts.length ? `  ${parts.join(' ')}` : ''}\n`;
}

export interface LogOutput {
  /** `json` or `pretty`; unset: pretty when the stream is a terminal. */
  format?: LogFormat;
  /** stdout (the default; a gateway's logs) or stderr (the CLI's: its stdout carries only the command's output). */
  stream?: 'stdout' | 'stderr';
}

/**
 * Logs as JSON lines on stdout, or on `destination` (e.g. a stream a test reads); with `output`,
 * on stderr and as short readable lines (`pretty`). Without a format, readable when the stream is
 * a terminal (a person reads it) and JSON otherwise (a collector reads it). Keys are redacted
 * wherever a header object is logged by mistake.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, output: LogOutput = {}): Logger {
  const stream = output.stream === 'stderr' ? process.stderr : process.stdout;
  const pretty = (output.format ?? (stream.isTTY ? 'pretty' : 'json')) === 'pretty';
  // A terminal or pipe written with write() from the main thread: nothing buffered is lost at exit.
  const target: DestinationStream | undefined =
    destination ??
    (pretty
      ? { write: (line: string) => void stream.write(readableLogLine(line)) }
      : output.stream === 'stderr'
        ? pino.destination({ fd: 2, sync: true })
        : undefined);
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['req.headers["api-key"]', 'req.headers.authorization', 'headers["api-key"]', 'apiKey', '*.apiKey'],
        censor: '[redacted]',
      },
    },
    target,
  );
}
