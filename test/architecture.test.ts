import fs from 'node:fs';
import path from 'node:path';

/**
 * The layering of src/: no folder depends on another that depends back on it (type imports count:
 * they tie the folders' code together as much as value imports do). ESLint's import-x/no-cycle
 * checks the same between single files.
 */
const SRC = path.resolve(__dirname, '..', 'src');
const IMPORT = /^(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The top folder of src/ a file belongs to (`src/storage/backend/disk.ts` → `storage`). */
const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0].replace(/\.ts$/, '');

function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const to = folderOf(path.resolve(path.dirname(file), match[1]));
      if (to === from) continue;
      const targets = graph.get(from) ?? new Map<string, string[]>();
      graph.set(from, targets);
      targets.set(to, [...(targets.get(to) ?? []), `${path.relative(SRC, file)} → ${match[1]}`]);
    }
  }
  return graph;
}

/** Each file of src/ with the files of src/ it imports (type imports included). */
function fileGraph(): Map<string, string[]> {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), match[1]);
      const found = [`${target}.ts`, path.join(target, 'index.ts')].find((candidate) => known.has(candidate));
      if (found) targets.push(path.relative(SRC, found));
    }
    graph.set(path.relative(SRC, file), targets);
  }
  return graph;
}

/** The groups of files that import one another in a circle (strongly connected components of more than one file). */
function fileCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, next);
    low.set(file, next++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== file);
    if (group.length > 1) found.push(group.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

/** Every cycle between folders, each as the list of the imports that make it. */
function cycles(graph: Map<string, Map<string, string[]>>): string[][] {
  const found = new Map<string, string[]>();
  const visit = (start: string, node: string, trail: string[], via: string[]) => {
    for (const [next, imports] of graph.get(node) ?? []) {
      if (next === start) {
        const key = [...trail].sort().join(' ~ ');
        if (!found.has(key)) found.set(key, [...via, imports[0]]);
      } else if (!trail.includes(next) && trail.length < graph.size) {
        visit(start, next, [...trail, next], [...via, imports[0]]);
      }
    }
  };
  for (const folder of graph.keys()) visit(folder, folder, [folder], []);
  return [...found.values()];
}

describe('architecture: the folders of src/', () => {
  it('import one another without a cycle', () => {
    expect(cycles(folderGraph())).toEqual([]);
  });

  it('have no import cycle between single files either, type imports included', () => {
    expect(fileCycles(fileGraph())).toEqual([]);
  });

  it('never import the composition root (src/app) from a capability or a shared module', () => {
    const upward = [...folderGraph()]
      .filter(([from]) => from !== 'app' && from !== 'cli' && from !== 'main')
      .flatMap(([, targets]) => targets.get('app') ?? []);
    expect(upward).toEqual([]);
  });

  it('give the admin classes (*.admin.ts, acting on any organization by id) to the composition root alone', () => {
    const importers = [...fileGraph()]
      .filter(([from]) => !from.startsWith(`app${path.sep}`))
      .flatMap(([from, targets]) => targets.filter((target) => target.endsWith('.admin.ts')).map((target) => `${from} → ${target}`));
    expect(importers).toEqual([]);
  });

  it('bind the organization once per request: no resolver names an organization id or checks for a principal', () => {
    const resolvers = sourceFiles(SRC).filter((file) => file.endsWith('.resolver.ts') || file.endsWith(path.join('graphql', 'node.ts')));
    expect(resolvers.length).toBeGreaterThan(5);
    const offending = resolvers
      .filter((file) => /organizationId|requirePrincipal|ctx\.principal|context\.principal/.test(fs.readFileSync(file, 'utf8')))
      .map((file) => path.relative(SRC, file));
    expect(offending).toEqual([]);
  });

  it('take the organization from the principal in one place, the organization scope of src/app/: no other module reads it', () => {
    // Resolvers, node(id) fetchers and the HTTP routes that take a key (src/http/) all get the organization's capabilities from the
    // scope, and admin classes act by id alone. The request log only records who called: it hands the id to no capability.
    const recordsTheCaller = path.join('observability', 'request-log.ts');
    const readsIt = /principal\??\.organizationId|\{[^}]*\borganizationId\b[^}]*\}\s*=\s*[\w.]*principal\b/;
    const offending = sourceFiles(SRC)
      .map((file) => path.relative(SRC, file))
      .filter((file) => !file.startsWith(`app${path.sep}`) && file !== recordsTheCaller)
      .filter((file) => readsIt.test(fs.readFileSync(path.join(SRC, file), 'utf8')));
    expect(offending).toEqual([]);
    expect(readsIt.test('const { organizationId, keyId } = this.principal;')).toBe(true);
  });

  it('finds a cycle when there is one (the check itself works)', () => {
    const graph = new Map([
      ['a', new Map([['b', ['a/x.ts → ../b/y']]])],
      ['b', new Map([['a', ['b/y.ts → ../a/x']]])],
    ]);
    expect(cycles(graph)).toEqual([['a/x.ts → ../b/y', 'b/y.ts → ../a/x']]);
    const files = new Map([
      ['a/x.ts', ['a/y.ts']],
      ['a/y.ts', ['a/z.ts']],
      ['a/z.ts', ['a/x.ts']],
      ['b/w.ts', ['a/x.ts']],
    ]);
    expect(fileCycles(files)).toEqual([['a/x.ts', 'a/y.ts', 'a/z.ts']]);
  });
});
