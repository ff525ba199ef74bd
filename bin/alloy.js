#!/usr/bin/env node
// The admin CLI; runs the compiled code (npm install builds it through the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  const message = 'the gateway is not built yet; run `npm run build` first';
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ error: { code: 'NOT_BUILT', message } })}\n`);
  else process.stderr.write(`alloy: ${message}\n`);
  process.exit(1);
}
require(entry).main(process.argv);
