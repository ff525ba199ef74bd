import fs from 'node:fs';
import path from 'node:path';
import { ROOT, runBash } from './process';

const README = path.join(ROOT, 'README.md');

/**
 * The README's runnable examples: a fenced ```bash (or ```js) block right after `<!-- example: NAME -->`.
 * Tests run them as written, so the README cannot drift from what works.
 */
export function readmeExample(name: string, language = 'bash'): string {
  const text = fs.readFileSync(README, 'utf8');
  const marker = `<!-- example: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`README has no example named ${name}`);
  const block = new RegExp('^\\s*```' + language + '\\n([\\s\\S]*?)```').exec(text.slice(at + marker.length));
  if (!block) throw new Error(`README example ${name} has no ${language} block right after its marker`);
  return block[1];
}

/** Runs a README example with bash in `cwd`, with the given environment added. */
export function runExample(
  name: string,
  env: Record<string, string>,
  cwd: string = process.cwd(),
): Promise<{ stdout: string; stderr: string; code: number }> {
  return runBash(`set -euo pipefail\n${readmeExample(name)}`, env, cwd);
}
