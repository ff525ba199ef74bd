import fs from 'node:fs';
import type { Machine } from './machine';

export interface Row {
  figure: string;
  gateway: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
}

export function markdownTable(rows: Row[]): string {
  const header = '| figure | gateway | baseline | ratio | target | met? |\n|---|---|---|---|---|---|';
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [header, ...rows.map((r) => `| ${[r.figure, r.gateway, r.baseline, r.ratio, r.target, r.met].map(esc).join(' | ')} |`)].join('\n');
}

/** A plain-text table for the terminal. */
export function textTable(rows: Row[]): string {
  const cols: Array<keyof Row> = ['figure', 'gateway', 'baseline', 'ratio', 'target', 'met'];
  const plain = (s: string) => s.replace(/`/g, '');
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => plain(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => plain(c).padEnd(widths[i])).join('  ');
  return [line(cols.map(String)), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

const BEGIN = '<!-- bench:begin (written by `npm run bench`; edit outside these markers) -->';
const END = '<!-- bench:end -->';

const SKELETON = `# Benchmarks

\`npm run bench\` measures the gateway against hand-written baselines in one run on one machine and
rewrites the section between the markers below. Everything outside the markers is kept.

${BEGIN}
${END}
`;

export function renderRun(rows: Row[], notes: string[], machine: Machine, postgres: string, date: Date, settings: string): string {
  const packages = Object.entries(machine.packages)
    .map(([n, v]) => `${n} ${v}`)
    .join(', ');
  return [
    `## Latest run: ${date.toISOString().replace(/\.\d+Z$/, 'Z')}`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory} memory, ${machine.os}; load average ${machine.loadAverage} at the start (other work on the machine)`,
    `- Node ${machine.node}, PostgreSQL ${postgres}`,
    `- Packages: ${packages}`,
    `- Settings: ${settings}`,
    '',
    markdownTable(rows),
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}

/** Replaces the generated section of BENCHMARKS.md, creating the file if needed. */
export function writeBenchmarks(file: string, section: string): void {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : SKELETON;
  if (!text.includes(BEGIN) || !text.includes(END)) text = `${text.trimEnd()}\n\n${BEGIN}\n${END}\n`;
  const before = text.slice(0, text.indexOf(BEGIN) + BEGIN.length);
  const after = text.slice(text.indexOf(END));
  fs.writeFileSync(file, `${before}\n${section}\n${after}`);
}
