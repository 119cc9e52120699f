// The import graph of daemons/, and the three rules it must keep (issue 16):
// - no daemon folder imports another daemon's folder, and lib imports no
//   daemon: what two daemons share lives in daemons/lib. Tests and type-only
//   imports count (a rename there breaks a build here just as well);
// - no module that runs in production reaches a test or a fixture through
//   its imports (steerd's TypeScript reference selector, the oracle of the
//   differential test and the benchmark's baseline, is one);
// - no import cycle: a cycle means two modules are one concern split in
//   two, and under ES modules it makes evaluation order decide whether a
//   binding is initialised yet. A dynamic import() that closes a cycle hides
//   it from the loader, not from the design, so it counts. Type-only imports
//   are erased at run time and do not count here.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const daemonsDir = path.join(repo, 'daemons');

/** One relative import of a module: the .ts file it names, and whether it is erased at run time. */
export interface Import { target: string; typeOnly: boolean }

/** Every .ts file under dir (tests included). */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The relative modules file imports: static imports, re-exports, import(); packages are not followed. */
export function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: Array<{ spec: string; typeOnly: boolean }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly = clause !== undefined && (clause.isTypeOnly
        || (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings)
          && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause)
        && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) found.push({ spec: arg.text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found
    .filter((f) => f.spec.startsWith('.'))
    .map((f) => ({ target: path.resolve(path.dirname(file), f.spec.replace(/\.js$/, '.ts')), typeOnly: f.typeOnly }));
}

/** The import graph of files: each file's imports, read from disk. */
function graphOf(files: string[]): Map<string, Import[]> {
  return new Map(files.map((f) => [f, importsOf(f, fs.readFileSync(f, 'utf8'))]));
}

/** The folder of root a path lies in ('lib', 'probed', ...), or undefined outside root or at its top. */
function folderOf(root: string, file: string): string | undefined {
  const rel = path.relative(root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const first = rel.split(path.sep)[0];
  return first === rel ? undefined : first;
}

/** `file: target` (relative to root) for each import that leaves its folder for a folder it may not use. */
export function crossImports(root: string, graph: Map<string, Import[]>): string[] {
  const out: string[] = [];
  for (const [file, imports] of graph) {
    const own = folderOf(root, file);
    if (own === undefined) continue;
    for (const { target } of imports) {
      const to = folderOf(root, target);
      const allowed = to === undefined || to === own || (own !== 'lib' && to === 'lib');
      if (!allowed) out.push(`${path.relative(root, file)}: ${path.relative(root, target)}`);
    }
  }
  return [...new Set(out)].sort();
}

const isTestOnly = (file: string): boolean => /\.(test|fixture)\.ts$/.test(file);

/** For each production module that reaches a test or fixture: the import chain, shortest first found. */
export function productionReachingTests(graph: Map<string, Import[]>): string[][] {
  const out: string[][] = [];
  for (const root of [...graph.keys()].filter((f) => !isTestOnly(f)).sort()) {
    const chains = new Map<string, string[]>([[root, [root]]]);
    const queue = [root];
    while (queue.length) {
      const file = queue.shift()!;
      for (const { target } of graph.get(file) ?? []) {
        if (chains.has(target)) continue;
        const chain = [...chains.get(file)!, target];
        chains.set(target, chain);
        if (isTestOnly(target)) out.push(chain);
        else queue.push(target);
      }
    }
  }
  return out;
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan), over run-time imports. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strong(v);
  return found;
}

const runtimeGraph = (graph: Map<string, Import[]>): Map<string, string[]> =>
  new Map([...graph].map(([f, imports]) => [f, imports.filter((i) => !i.typeOnly).map((i) => i.target)]));

const rel = (file: string): string => path.relative(repo, file);

// The rules, on the tree.

const tree = graphOf(sources(daemonsDir));

t.test('the graph is read: every daemon folder and lib, and the imports of a known module', async (t) => {
  t.ok(tree.size > 300, `read ${tree.size} source files under ${rel(daemonsDir)}; want more than 300`);
  const steerdImports = (tree.get(path.join(daemonsDir, 'steerd/daemon.ts')) ?? []).map((i) => rel(i.target));
  t.ok(steerdImports.includes('daemons/steerd/sites.ts') && steerdImports.includes('daemons/lib/api/index.ts'),
    `imports of steerd/daemon.ts: got ${JSON.stringify(steerdImports)}; want daemons/steerd/sites.ts and daemons/lib/api/index.ts among them`);
});

t.test('no daemon folder imports another daemon folder, and lib imports none', async (t) => {
  const folders = fs.readdirSync(daemonsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  t.ok(folders.includes('lib') && folders.length > 1, `got folders ${folders.join(', ')}; want lib and the daemons`);
  const bad = crossImports(daemonsDir, tree);
  t.same(bad, [], `got imports across daemon folders:\n  ${bad.join('\n  ')}\nwant none (move what is shared into daemons/lib)`);
});

t.test('no production module reaches a test or a fixture (steerd\'s reference selector among them)', async (t) => {
  const reference = path.join(daemonsDir, 'steerd/reference.fixture.ts');
  t.ok(tree.has(reference), `the reference selector is ${rel(reference)}, a fixture`);
  const chains = productionReachingTests(tree).map((c) => c.map(rel).join(' -> '));
  t.same(chains, [], `got import chains from production code into tests or fixtures:\n  ${chains.join('\n  ')}\nwant none`);
});

t.test('no import cycle in daemons/', async (t) => {
  const found = cycles(runtimeGraph(tree)).map((scc) => scc.map(rel));
  t.same(found, [], `got import cycles:\n${found.map((c) => `  ${c.join(', ')}`).join('\n')}\nwant none`);
});

// The checks themselves, on small trees: each must see what it is for.

t.test('importsOf() sees import(), re-exports, value and type-only imports, and tells which', async (t) => {
  const text = [
    "import type { A } from './a.js';",
    "import { type B } from './b.js';",
    "import { c } from './c.js';",
    "export { d } from './d.js';",
    "export type { E } from './e.js';",
    "const f = await import('./f.js');",
    "import fs from 'node:fs';",
  ].join('\n');
  const got = importsOf('/x/m.ts', text).map((i) => `${path.basename(i.target)}${i.typeOnly ? ' (type)' : ''}`).sort();
  const want = ['a.ts (type)', 'b.ts (type)', 'c.ts', 'd.ts', 'e.ts (type)', 'f.ts'];
  t.same(got, want, `got ${got.join(', ')}; want ${want.join(', ')}`);
});

t.test('crossImports() sees every kind of import across folders', async (t) => {
  const root = t.testdir({
    ctl: {
      'a.ts': [
        "import { History } from '../probed/history.js';",
        "export { x } from '../paird/vip.js';",
        "const m = await import('../qosd/shaper.js');",
        "import type { T } from '../tunneld/status.js';",
        "import { ok } from '../lib/errors.js';",
        "import { y } from './b.js';",
        "import ts from 'typescript';",
      ].join('\n'),
    },
    lib: { 'b.ts': "import { spec } from '../steerd/index.js';\nimport { c } from './c.js';" },
  });
  const got = crossImports(root, graphOf(sources(root)));
  const want = ['ctl/a.ts: paird/vip.ts', 'ctl/a.ts: probed/history.ts', 'ctl/a.ts: qosd/shaper.ts', 'ctl/a.ts: tunneld/status.ts', 'lib/b.ts: steerd/index.ts'];
  t.same(got, want, `got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
});

t.test('productionReachingTests() follows chains into fixtures and tests, not out of them', async (t) => {
  const g = (edges: Record<string, string[]>): Map<string, Import[]> =>
    new Map(Object.entries(edges).map(([f, to]) => [f, to.map((target) => ({ target, typeOnly: false }))]));
  const got = productionReachingTests(g({
    'sites.ts': ['policy.ts'],
    'policy.ts': ['reference.fixture.ts'],
    'reference.fixture.ts': ['types.ts'],
    'daemon.test.ts': ['sites.ts', 'workload.fixture.ts'],
    'types.ts': [],
  })).map((c) => c.join(' -> '));
  t.same(got, ['policy.ts -> reference.fixture.ts', 'sites.ts -> policy.ts -> reference.fixture.ts'], `got ${JSON.stringify(got)}`);
});

t.test('cycles() finds a cycle, a self-import and nothing in a tree', async (t) => {
  const cases: Array<{ name: string; edges: Record<string, string[]>; want: string[][] }> = [
    { name: 'table → completion → program → table', edges: { table: ['completion'], completion: ['program'], program: ['table'] }, want: [['completion', 'program', 'table']] },
    { name: 'a self-import', edges: { a: ['a'] }, want: [['a']] },
    { name: 'a diamond is no cycle', edges: { a: ['b', 'c'], b: ['d'], c: ['d'], d: [] }, want: [] },
  ];
  for (const c of cases) {
    const got = cycles(new Map(Object.entries(c.edges)));
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});
