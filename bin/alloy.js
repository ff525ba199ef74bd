#!/usr/bin/env node
// The admin CLI; runs the compiled code (npm install builds it through the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('alloy: the gateway is not built yet; run `npm run build` first\n');
  process.exit(1);
}
require(entry).buildProgram().parseAsync(process.argv).catch((error) => {
  process.stderr.write(`alloy: ${error.message}\n`);
  process.exit(1);
});
