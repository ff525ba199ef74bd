import fs from 'node:fs';
import path from 'node:path';
import { printGatewaySchema } from '../src/app/schema';

const SCHEMA_FILE = path.resolve(__dirname, '..', 'schema', 'schema.graphql');

describe('schema/schema.graphql', () => {
  it('is exactly what the code prints', async () => {
    const committed = fs.readFileSync(SCHEMA_FILE, 'utf8');
    const printed = await printGatewaySchema();
    if (committed !== printed) {
      throw new Error(
        'schema/schema.graphql differs from the schema the code builds. Run `npm run schema` and commit the result.\n' +
          firstDifference(committed, printed),
      );
    }
    expect(committed).toBe(printed);
  });
});

function firstDifference(committed: string, printed: string): string {
  const a = committed.split('\n');
  const b = printed.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return `first difference at line ${i + 1}:\n  committed: ${a[i] ?? '(end of file)'}\n  code:      ${b[i] ?? '(end of file)'}`;
  }
  return '';
}
