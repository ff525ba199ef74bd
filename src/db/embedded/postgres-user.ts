import { execFileSync } from 'node:child_process';
import { StartupError } from '../../config/startup-error';

/** The system user PostgreSQL runs as when the gateway runs as root (it refuses to run as root). */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export const POSTGRES_USER = 'postgres';

const idOf = (flag: '-u' | '-g'): number =>
  Number(execFileSync('id', [flag, POSTGRES_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());

function lookup(): RunAs | null {
  try {
    return { name: POSTGRES_USER, uid: idOf('-u'), gid: idOf('-g') };
  } catch {
    return null;
  }
}

/** Ways to add a system user without a home or a login shell: shadow-utils (Debian, Fedora), then BusyBox (Alpine). */
const CREATE_USER: Array<[string, string[]]> = [
  [
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', POSTGRES_USER],
  ],
  ['adduser', ['-S', '-D', '-H', '-h', '/nonexistent', '-s', '/sbin/nologin', POSTGRES_USER]],
];

/**
 * Null when this process is not root (PostgreSQL then runs as this user). As root: the `postgres`
 * user, created as a system user when the machine has none.
 */
export function postgresRunAs(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const existing = lookup();
  if (existing) return existing;
  const failures: string[] = [];
  for (const [command, args] of CREATE_USER) {
    try {
      execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const created = lookup();
      if (created) return created;
    } catch (error) {
      failures.push(
        `${command}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : String((error as { stderr?: Buffer }).stderr ?? '').trim() || 'failed'}`,
      );
    }
  }
  throw new StartupError(
    'EMBEDDED_POSTGRES_USER',
    `PostgreSQL does not run as root, and no "${POSTGRES_USER}" user exists to run it as, nor could one be created (${failures.join('; ')}). ` +
      `Create one (useradd --system ${POSTGRES_USER}), run npm start as another user, or set DATABASE_URL to a server of your own`,
  );
}
