// Regression (issue 16): steerd's production code judged SLAs through the
// TypeScript reference selector (sites.ts imported reference.ts) and
// exported it as API. The reference is the oracle of the differential test
// and the benchmark's baseline, nothing more: no module steerd runs may
// reach it, or any test or fixture, through its imports.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const steerd = path.join(repo, 'daemons/steerd');

const isTestOnly = (file: string): boolean => /\.(test|fixture)\.ts$/.test(file);
/** The reference selector, under whatever name it had: reference.ts, reference.fixture.ts. */
const isReference = (file: string): boolean => path.dirname(file) === steerd && /^reference\./.test(path.basename(file));

/** The repository's .ts modules `file` imports (relative specifiers; packages are not followed). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), fileName.replace(/\.js$/, '.ts'));
    if (fs.existsSync(target)) out.push(target);
  }
  return out;
}

/** Every module reachable from `root`, each with the import chain that reaches it. */
function reachable(root: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[root, [root]]]);
  const queue = [root];
  while (queue.length) {
    const file = queue.shift()!;
    for (const next of importsOf(file)) {
      if (chains.has(next)) continue;
      chains.set(next, [...chains.get(file)!, next]);
      queue.push(next);
    }
  }
  return chains;
}

const rel = (file: string): string => path.relative(repo, file);

t.test('steerd\'s production modules do not import the reference selector, tests or fixtures', async (t) => {
  const production = fs.readdirSync(steerd)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(steerd, f))
    .filter((f) => !isTestOnly(f) && !isReference(f));
  t.ok(production.length >= 10, `production modules found in ${rel(steerd)}: got ${production.length}; want >= 10`);
  // The scanner must see imports, or the test proves nothing.
  const daemonImports = importsOf(path.join(steerd, 'daemon.ts')).map(rel);
  t.ok(daemonImports.includes('daemons/steerd/sites.ts'), `imports of daemon.ts: got ${JSON.stringify(daemonImports)}; want daemons/steerd/sites.ts among them`);

  const offending: string[] = [];
  for (const file of production) {
    for (const [target, chain] of reachable(file)) {
      if (isReference(target) || isTestOnly(target)) offending.push(chain.map(rel).join(' -> '));
    }
  }
  t.same(offending, [], `import chains from production code into the reference, tests or fixtures: got ${offending.length}; want none`);
});
