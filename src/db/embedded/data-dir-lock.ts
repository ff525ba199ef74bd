import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../../net/process-alive';

/** Who holds a data directory: the process that runs its embedded PostgreSQL server. */
export interface DataDirHolder {
  pid: number;
  /** `serve`, `worker`, or the admin command (`key list`, …). */
  command: string;
  /** The embedded server, for admin commands run while the holder is up. */
  databaseUrl?: string;
  /** The holder's GraphQL endpoint, once it listens. */
  gatewayUrl?: string;
  startedAt: string;
}

export const LOCK_FILE = 'alloy.lock';

/** On Linux, a pid recycled by another program (after a reboot, in a new container) is not a holder. */
function isNodeProcess(pid: number): boolean {
  try {
    return /node/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc to ask: trust the pid
  }
}

function read(file: string): DataDirHolder | null {
  try {
    const holder = JSON.parse(fs.readFileSync(file, 'utf8')) as DataDirHolder;
    return Number.isInteger(holder?.pid) ? holder : null;
  } catch {
    return null; // missing, or half written by a process that died while writing it
  }
}

/** The live process holding `dataDir`, or null (no lock, or a stale one of a process that is gone). */
export function dataDirHolder(dataDir: string): DataDirHolder | null {
  const holder = read(path.join(dataDir, LOCK_FILE));
  if (!holder || holder.pid === process.pid || !isAlive(holder.pid) || !isNodeProcess(holder.pid)) return null;
  return holder;
}

/**
 * `<dataDir>/alloy.lock`: one process at a time runs a data directory's embedded database. The
 * file is created exclusively; one left by a process that is gone is taken over. It holds the
 * database URL (and password), so only its owner may read it.
 */
export class DataDirLock {
  private constructor(
    private readonly file: string,
    private holder: DataDirHolder,
  ) {}

  /** The lock, or the live process that holds it. */
  static acquire(dataDir: string, command: string): DataDirLock | { heldBy: DataDirHolder } {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, LOCK_FILE);
    const holder: DataDirHolder = { pid: process.pid, command, startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(holder), { flag: 'wx', mode: 0o600 });
        return new DataDirLock(file, holder);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const current = dataDirHolder(dataDir);
      if (current) return { heldBy: current };
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
    const current = dataDirHolder(dataDir);
    if (current) return { heldBy: current };
    throw new Error(`could not take ${file}`);
  }

  update(change: Partial<Pick<DataDirHolder, 'databaseUrl' | 'gatewayUrl'>>): void {
    this.holder = { ...this.holder, ...change };
    // Written whole to a temporary file and renamed, so that a reader never sees half of it.
    const temporary = `${this.file}.${process.pid}`;
    fs.writeFileSync(temporary, JSON.stringify(this.holder), { mode: 0o600 });
    fs.renameSync(temporary, this.file);
  }

  release(): void {
    if (read(this.file)?.pid === process.pid) fs.rmSync(this.file, { force: true });
  }
}

/** "another Alloy gateway (pid 123, http://127.0.0.1:4000/graphql)", for messages. */
export function describeHolder(holder: DataDirHolder): string {
  const what =
    holder.command === 'serve' ? 'an Alloy gateway' : holder.command === 'worker' ? 'an Alloy worker' : `\`alloy ${holder.command}\``;
  const where = holder.gatewayUrl ? `, ${holder.gatewayUrl}/graphql` : holder.command === 'serve' ? ', still starting' : '';
  return `${what} (pid ${holder.pid}${where})`;
}
