import path from 'node:path';
import { StartupError } from '../config/startup-error';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { DataDirLock, dataDirHolder, DataDirHolder, describeHolder } from './embedded/data-dir-lock';
import { startEmbeddedPostgres } from './embedded/embedded-postgres';

export interface ProcessDatabase {
  url: string;
  embedded: boolean;
  /** Records where this process serves, for the message a second start gets. */
  announce(gatewayUrl: string): void;
  /** Stops the embedded server if this process started it; a no-op otherwise. */
  release(): Promise<void>;
}

export interface DatabaseUse {
  /** `serve`, `worker`, or the admin command being run. */
  command: string;
  /**
   * Long-running processes (serve, worker) own their data directory: a second one is refused.
   * Admin commands use the running one's database, or start one of their own for the command.
   */
  exclusive: boolean;
}

const external = (url: string): ProcessDatabase => ({ url, embedded: false, announce: () => undefined, release: async () => undefined });

const shown = (dir: string): string => {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') ? relative : dir;
};

/** A second gateway or worker on a data directory that a running one holds. */
export function dataDirInUse(dataDir: string, holder: DataDirHolder): StartupError {
  return new StartupError(
    'DATA_DIR_IN_USE',
    `The data directory ${shown(dataDir)} is in use by ${describeHolder(holder)}. ` +
      `Stop that one first (Ctrl-C in its terminal, or kill ${holder.pid}), or set ALLOY_DATA_DIR to another directory`,
  );
}

/** The running process holding the data directory, if any (a read of its lock; nothing is created). */
export const dataDirHeldBy = (dataDir: string): DataDirHolder | null => dataDirHolder(dataDir);

/** An admin command started while a gateway is starting waits for its database to be up. */
async function runningDatabaseUrl(dataDir: string, holder: DataDirHolder): Promise<string | undefined> {
  const deadline = Date.now() + 120_000;
  for (let current: DataDirHolder | null = holder; current; current = dataDirHolder(dataDir)) {
    if (current.databaseUrl) return current.databaseUrl;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

/** The data directory's lock; a directory that cannot be made or written is the operator's to fix. */
function acquire(dataDir: string, command: string): ReturnType<typeof DataDirLock.acquire> {
  try {
    return DataDirLock.acquire(dataDir, command);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!code) throw error;
    throw new StartupError(
      'DATA_DIR_UNUSABLE',
      `The data directory ${shown(dataDir)} cannot be used (${code}${code === 'EEXIST' || code === 'ENOTDIR' ? ': a file is in the way' : ''}): set ALLOY_DATA_DIR to a directory this user may write`,
    );
  }
}

/**
 * This process's database: `DATABASE_URL` if set; otherwise the embedded server of the data
 * directory, which one process at a time runs (its lock, data-dir-lock.ts).
 */
export async function databaseForProcess(config: Config, logger: Logger, use: DatabaseUse): Promise<ProcessDatabase> {
  if (config.databaseUrl) return external(config.databaseUrl);
  for (;;) {
    const lock = acquire(config.dataDir, use.command);
    if ('heldBy' in lock) {
      if (use.exclusive) throw dataDirInUse(config.dataDir, lock.heldBy);
      const url = await runningDatabaseUrl(config.dataDir, lock.heldBy);
      if (url) return external(url);
      continue; // it stopped before its database was up: take the directory
    }
    try {
      const embedded = await startEmbeddedPostgres(config.dataDir, logger);
      lock.update({ databaseUrl: embedded.url });
      return {
        url: embedded.url,
        embedded: true,
        announce: (gatewayUrl) => lock.update({ gatewayUrl }),
        async release() {
          await embedded.stop();
          lock.release();
        },
      };
    } catch (error) {
      lock.release();
      throw error;
    }
  }
}
