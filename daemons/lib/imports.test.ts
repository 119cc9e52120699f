// Issue 16: no daemon folder imports another daemon's folder; what two
// daemons share lives in daemons/lib, and lib imports no daemon. Tests count
// too: a test that imports another daemon's module ties the two folders
// together just as well (a rename there breaks a build here), and the
// shared name it wanted belongs in lib.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const daemonsDir = fileURLToPath(new URL('../../../daemons/', import.meta.url));

/** Every TypeScript file under dir (sources and tests). */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The folder of root a path lies in ('lib', 'probed', ...), or undefined outside root. */
function folderOf(root: string, file: string): string | undefined {
  const rel = path.relative(root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const first = rel.split(path.sep)[0];
  return first === rel ? undefined : first;
}

/** `file: specifier` (file relative to root, the daemons/ folder) for each relative import (static, dynamic, export-from) leaving the file's own folder for a folder it may not use. */
function crossImports(root: string, files: string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const own = folderOf(root, file);
    if (own === undefined) continue;
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith('.')) continue;
      const target = folderOf(root, path.resolve(path.dirname(file), spec));
      const allowed = target === undefined || target === own || (own !== 'lib' && target === 'lib');
      if (!allowed) out.push(`${path.relative(root, file)}: ${spec}`);
    }
  }
  return out.sort();
}

t.test('no daemon folder imports another daemon folder, and lib imports none', async (t) => {
  const folders = fs.readdirSync(daemonsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  t.ok(folders.includes('lib') && folders.length > 1, `got folders ${folders.join(', ')}; want lib and the daemons`);
  const bad = [...new Set(crossImports(daemonsDir, sources(daemonsDir)))];
  t.same(bad, [], `got imports across daemon folders:\n  ${bad.join('\n  ')}\nwant none (move what is shared into daemons/lib)`);
});

t.test('the check sees every kind of import across folders', async (t) => {
  const root = t.testdir({
    ctl: {
      'a.ts': [
        "import { History } from '../probed/history.js';",
        "export { x } from '../paird/vip.js';",
        "const m = await import('../qosd/shaper.js');",
        "import { ok } from '../lib/errors.js';",
        "import { y } from './b.js';",
        "import ts from 'typescript';",
      ].join('\n'),
    },
    lib: { 'b.ts': "import { spec } from '../steerd/index.js';\nimport { c } from './c.js';" },
  });
  const got = crossImports(root, sources(root));
  const want = ['ctl/a.ts: ../paird/vip.js', 'ctl/a.ts: ../probed/history.js', 'ctl/a.ts: ../qosd/shaper.js', 'lib/b.ts: ../steerd/index.js'];
  t.same(got, want, `got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
});
