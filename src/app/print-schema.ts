// `npm run schema`: writes the SDL that the code builds to schema/schema.graphql.
import fs from 'node:fs';
import path from 'node:path';
import { printGatewaySchema } from './schema';

export const SCHEMA_FILE = path.resolve(__dirname, '..', '..', '..', 'schema', 'schema.graphql');

if (require.main === module) {
  printGatewaySchema().then((sdl) => {
    fs.writeFileSync(SCHEMA_FILE, sdl);
    process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
  });
}
