#!/usr/bin/env node
// `npm run build` and `prepare` (npm install) compile with tsc; `prestart` runs this with
// --if-changed, which skips tsc when the compiler's inputs (the sources, tsconfig.json,
// package-lock.json) hash to what the last build recorded: compiling takes 10+ s, and an unchanged
// checkout should start in about one. A content hash rather than timestamps: copies, checkouts and
// unpacked archives set timestamps of their own.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const RECORD = path.join(ROOT, 'dist', '.build-inputs');
/** What tsconfig.json compiles (its `include`), and what decides how. */
const INPUT_DIRS = ['src', 'bench'];
const INPUT_FILES = ['ormconfig.ts', 'tsconfig.json', 'package-lock.json'];

function filesUnder(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function inputsHash() {
  const files = [
    ...INPUT_DIRS.flatMap((dir) => filesUnder(path.join(ROOT, dir))),
    ...INPUT_FILES.map((file) => path.join(ROOT, file)).filter((file) => fs.existsSync(file)),
  ].sort();
  const hash = crypto.createHash('sha256');
  for (const file of files) hash.update(path.relative(ROOT, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  return hash.digest('hex');
}

const hash = inputsHash();
const built = fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'));
if (process.argv.includes('--if-changed') && built && fs.existsSync(RECORD) && fs.readFileSync(RECORD, 'utf8') === hash) {
  process.exit(0);
}
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [ROOT] }), '-p', 'tsconfig.json'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  // A failed build must not be taken for a current one next time.
  fs.rmSync(RECORD, { force: true });
  process.exit(tsc.status ?? 1);
}
// The hash of the inputs as they were when tsc read them: a file changed meanwhile is compiled next time.
fs.writeFileSync(RECORD, hash);
