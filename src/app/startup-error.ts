/**
 * A start-up problem the operator can fix (a data directory in use, a port taken, PostgreSQL that
 * cannot run here): reported as one line that says why and what to do, exit code 1, no stack.
 */
export class StartupError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
