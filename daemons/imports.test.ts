// No import cycles in daemons/ (issue 16): a cycle means two modules are one
// concern split in two, and under ES modules it makes evaluation order
// decide whether a binding is initialised yet. A dynamic import() that closes
// a cycle hides it from the loader, not from the design, so it counts here.
// Type-only imports are erased at run time and do not count.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const root = path.join(repo, 'daemons');

/** Every .ts file under dir (tests included: a test importing in a circle is a cycle too). */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The relative modules file imports at run time: static imports, re-exports, import(). */
export function runtimeImports(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly = clause !== undefined && (clause.isTypeOnly
        || (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings)
          && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause)
        && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found
    .filter((s) => s.startsWith('.'))
    .map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
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

t.test('runtimeImports() counts import(), re-exports and value imports; not type-only ones', async (t) => {
  const text = [
    "import type { A } from './a.js';",
    "import { type B } from './b.js';",
    "import { c } from './c.js';",
    "export { d } from './d.js';",
    "export type { E } from './e.js';",
    "const f = await import('./f.js');",
    "import fs from 'node:fs';",
  ].join('\n');
  const got = runtimeImports('/x/m.ts', text).map((p) => path.basename(p)).sort();
  t.same(got, ['c.ts', 'd.ts', 'f.ts'], `got ${got.join(', ')}; want c.ts, d.ts, f.ts`);
});

t.test('no import cycle in daemons/', async (t) => {
  const files = sources(root);
  t.ok(files.length > 50, `read ${files.length} source files under ${root}`);
  const graph = new Map(files.map((f) => [f, runtimeImports(f, fs.readFileSync(f, 'utf8'))]));
  const found = cycles(graph).map((scc) => scc.map((f) => path.relative(repo, f)));
  t.same(found, [], `got import cycles:\n${found.map((c) => `  ${c.join(', ')}`).join('\n')}\nwant none`);
});
