import fs from 'node:fs';
import path from 'node:path';
import { serverAudits, AuditResult } from 'graphql-http';
import { useGatewayWithOrg } from './support/gateway';

/**
 * The GraphQL-over-HTTP conformance audits of the `graphql-http` package, run against the started
 * gateway. Every MUST audit passes. The SHOULD/MAY audits that do not pass are listed, with the
 * reason, in README.md ("GraphQL over HTTP conformance"); this test keeps that list true.
 */
const { gw } = useGatewayWithOrg({ background: false });
const audits = serverAudits({ url: () => `${gw.url}/graphql` });
const results = new Map<string, AuditResult>();

beforeAll(async () => {
  for (const audit of audits) results.set(audit.id, await audit.fn());
});

function describeFailure(result: AuditResult): string {
  return result.status === 'ok' ? '' : `${result.id} ${result.name}: ${result.reason} (HTTP ${result.response.status})`;
}

describe('GraphQL over HTTP audits (graphql-http serverAudits)', () => {
  const must = audits.filter((a) => a.name.startsWith('MUST'));

  it('has MUST audits to run', () => {
    expect(must.length).toBeGreaterThanOrEqual(10);
  });

  it('passes every MUST audit', () => {
    const failed = must.map((a) => results.get(a.id)!).filter((r) => r.status !== 'ok');
    if (failed.length) throw new Error(`MUST audits failing:\n${failed.map(describeFailure).join('\n')}`);
  });

  it.each(must.map((a) => [a.name, a.id] as const))('%s', (_name, id) => {
    const result = results.get(id)!;
    if (result.status !== 'ok') throw new Error(describeFailure(result));
  });

  it('leaves exactly the SHOULD/MAY warnings that README.md lists and explains', () => {
    const remaining = [...results.values()]
      .filter((r) => r.status !== 'ok' && !r.name.startsWith('MUST'))
      .map((r) => r.id)
      .sort();
    const documented = documentedWarningIds();
    const unexplained = remaining.filter((id) => !documented.includes(id));
    const fixed = documented.filter((id) => !remaining.includes(id));
    if (unexplained.length || fixed.length) {
      throw new Error(
        'README.md "GraphQL over HTTP conformance" is out of date.\n' +
          (unexplained.length
            ? `Warnings not listed there:\n${unexplained.map((id) => describeFailure(results.get(id)!)).join('\n')}\n`
            : '') +
          (fixed.length ? `Listed there but now passing: ${fixed.join(', ')}\n` : ''),
      );
    }
    expect(remaining).toEqual(documented);
  });
});

/** Audit ids written as `XXXX` in the README's conformance section. */
function documentedWarningIds(): string[] {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### GraphQL over HTTP conformance');
  if (start < 0) throw new Error('README.md has no "### GraphQL over HTTP conformance" section');
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n##/);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/`([0-9A-F]{4})`/g)].map((m) => m[1]).sort();
}
