import fs from 'node:fs';
import path from 'node:path';
import { ROOT, runProcess } from './support/process';

const TMP = path.join(ROOT, 'test', '.tmp');
const GENERATED = path.join(TMP, 'generated.ts');
const USAGE = path.join(TMP, 'codegen-usage.ts');
const TSCONFIG = path.join(TMP, 'tsconfig.codegen.json');
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);

async function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runProcess(command, args, { timeoutMs: 120_000 });
  return { code, output: `${stdout}${stderr}` };
}

// A client written against the generated types. The @ts-expect-error lines fail the compile if
// the generated types are missing or loose (`any`), so a passing tsc means they are real.
const USAGE_SOURCE = `import type {
  OrganizationQuery,
  OrganizationQueryVariables,
  OrganizationNameQuery,
  OrganizationWithFragmentQuery,
} from './generated';

export const variables: OrganizationQueryVariables = {};

export function describeOrganization(result: OrganizationQuery): string {
  const { id, name } = result.organization;
  return \`\${name} (\${id.toUpperCase()})\`;
}

export const nameOnly = (result: OrganizationNameQuery): string => result.organization.name;

export const typename = (result: OrganizationWithFragmentQuery): 'Query' => result.__typename;

// @ts-expect-error the operation did not select id
export const noId = (result: OrganizationNameQuery) => result.organization.id;

// @ts-expect-error no such field in the schema
export const unknownField = (result: OrganizationQuery) => result.organization.billingEmail;

// @ts-expect-error name is a string, not a number
export const wrongType: number = ({} as OrganizationQuery).organization.name;
`;

describe('GraphQL code generation', () => {
  it('generates TypeScript for test/operations/*.graphql that compiles with strict tsc', async () => {
    fs.mkdirSync(TMP, { recursive: true });
    fs.rmSync(GENERATED, { force: true });

    const codegen = await run(process.execPath, [path.join(ROOT, 'scripts', 'codegen.js')]);
    if (codegen.code !== 0) throw new Error(`npm run codegen failed (exit ${codegen.code}):\n${codegen.output}`);
    expect(fs.existsSync(GENERATED)).toBe(true);
    expect(fs.readFileSync(GENERATED, 'utf8')).toContain('export type OrganizationQuery =');

    fs.writeFileSync(USAGE, USAGE_SOURCE);
    fs.writeFileSync(
      TSCONFIG,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          noUnusedLocals: true,
          target: 'ES2022',
          module: 'commonjs',
          moduleResolution: 'node',
          skipLibCheck: true,
          types: [],
        },
        files: ['generated.ts', 'codegen-usage.ts'],
      }),
    );
    const tsc = await run(bin('tsc'), ['-p', TSCONFIG]);
    if (tsc.code !== 0) throw new Error(`tsc --noEmit failed on the generated code (exit ${tsc.code}):\n${tsc.output}`);
    expect(tsc.code).toBe(0);
  });
});
