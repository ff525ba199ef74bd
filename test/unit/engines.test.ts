import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';

/**
 * `npm install` on the oldest Node that package.json's `engines` allows prints no EBADENGINE
 * warning: no installed package, of the runtime or the tools, asks for a newer Node (or npm).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: Record<string, string> | string[] }>;
};
/** The npm that comes with that Node (20.19.0 ships npm 10.8.2). */
const OLDEST_NPM = '10.8.2';

describe("package engines against this package's own", () => {
  const oldestNode = semver.minVersion(manifest.engines.node)!.version;

  it('says which Node it needs: 20.19 or newer', () => {
    expect(oldestNode).toBe('20.19.0');
  });

  it('installs only packages that accept that Node and its npm (every package in the lockfile that is installed)', () => {
    const refused: string[] = [];
    let checked = 0;
    for (const [location, entry] of Object.entries(lock.packages)) {
      // The root, and optional packages of other platforms that npm leaves out.
      if (location === '' || !fs.existsSync(path.join(ROOT, location))) continue;
      checked++;
      if (!entry.engines || Array.isArray(entry.engines)) continue;
      const { node, npm } = entry.engines;
      if (node && !semver.satisfies(oldestNode, node)) refused.push(`${location}@${entry.version} wants node ${node}`);
      if (npm && !semver.satisfies(OLDEST_NPM, npm)) refused.push(`${location}@${entry.version} wants npm ${npm}`);
    }
    expect(checked).toBeGreaterThan(500);
    expect(refused).toEqual([]);
  });
});
