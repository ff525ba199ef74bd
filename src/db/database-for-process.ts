import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { startEmbeddedPostgres } from './embedded-postgres';

export interface ProcessDatabase {
  url: string;
  embedded: boolean;
  /** Stops the embedded server if this process started it; a no-op otherwise. */
  release(): Promise<void>;
}

const urlFile = (config: Config) => path.join(config.dataDir, 'embedded-postgres.url');

/**
 * Where this process's database is: `DATABASE_URL` if set; otherwise the embedded server. When
 * another process (a running `npm start`) already runs the embedded server, its URL is reused
 * instead of starting a second server on the same data directory.
 */
export async function databaseForProcess(config: Config, logger: Logger): Promise<ProcessDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, release: async () => {} };
  const running = readRunningEmbeddedUrl(config);
  if (running) return { url: running, embedded: true, release: async () => {} };
  const embedded = await startEmbeddedPostgres(config.dataDir, logger);
  fs.writeFileSync(urlFile(config), `${embedded.url}\n`, { mode: 0o600 });
  return {
    url: embedded.url,
    embedded: true,
    async release() {
      fs.rmSync(urlFile(config), { force: true });
      await embedded.stop();
    },
  };
}

function readRunningEmbeddedUrl(config: Config): string | undefined {
  const pidFile = path.join(config.dataDir, 'postgres', 'postmaster.pid');
  if (!fs.existsSync(pidFile) || !fs.existsSync(urlFile(config))) return undefined;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale files from a crash: start a server of our own
  }
  return fs.readFileSync(urlFile(config), 'utf8').trim();
}
