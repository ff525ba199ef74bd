/**
 * Summarises a `.cpuprofile` (from `BENCH_CPU_PROF=<dir> npm run bench`): self time by function
 * and by package, and inclusive time of the hottest frames. Usage:
 *   node dist/bench/profile-summary.js <file.cpuprofile> [top]
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (n: ProfileNode) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  return (
    pkg ??
    (url.includes('/dist/')
      ? `app:${url.split('/dist/')[1]}`
      : url.startsWith('node:')
        ? url
        : url || `(${n.callFrame.functionName || 'native'})`)
  );
};
const label = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;

const sum = (key: (n: ProfileNode) => string) => {
  const out = new Map<string, number>();
  for (const [id, t] of self) out.set(key(byId.get(id)!), (out.get(key(byId.get(id)!)) ?? 0) + t);
  return [...out].sort((a, b) => b[1] - a[1]);
};
const pct = (t: number) => `${((t / total) * 100).toFixed(1).padStart(5)}%`;

// Inclusive time: a frame counts once per sample even when it recurses.
const inclusive = new Map<string, number>();
for (const [id, t] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (!seen.has(l)) {
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + t);
    }
  }
}

console.log(`total ${(total / 1000).toFixed(0)} ms sampled\n\nself time by package:`);
for (const [k, t] of sum(where).slice(0, top)) console.log(`${pct(t)}  ${k}`);
console.log('\nself time by function:');
for (const [k, t] of sum(label).slice(0, top)) console.log(`${pct(t)}  ${k}`);
console.log('\ninclusive time:');
for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) console.log(`${pct(t)}  ${k}`);
