import net from 'node:net';

/**
 * Why nothing may listen on `host:port` right now (EADDRINUSE, EACCES, EADDRNOTAVAIL…), or null
 * when something may: a trial listen, closed at once. Start-up asks before it starts the database,
 * so that a port in use costs a second, not a database created and migrated for nothing. Port 0
 * (any free port) is always available.
 */
export function listenProblem(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  if (port === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}
