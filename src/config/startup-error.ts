/**
 * A start-up problem the operator can fix (a data directory in use, a port taken, PostgreSQL that
 * cannot run here): reported as one line that says why and what to do, exit code 1, no stack.
 */
export class StartupError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/** A listen failure of the HTTP server as the operator's problem, or null for anything else. */
export function listenError(error: unknown, config: { host: string; port: number }): StartupError | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE')
    return new StartupError(
      'PORT_IN_USE',
      `Port ${config.port} on ${config.host} is in use by another program: stop it, or set PORT to another port`,
    );
  if (code === 'EACCES')
    return new StartupError(
      'PORT_NOT_ALLOWED',
      `This user may not listen on ${where} (ports below 1024 need root): set PORT to 1024 or above`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return new StartupError(
      'HOST_NOT_AVAILABLE',
      `HOST ${config.host} is not an address of this machine: set HOST to one (127.0.0.1, 0.0.0.0)`,
    );
  return null;
}
