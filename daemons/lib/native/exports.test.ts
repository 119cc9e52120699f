// The hand-written native/index.d.ts must declare exactly what tern.node
// exports: a function missing from either side is a bug the compiler cannot see.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { defaultNativePath, loadNative } from './index.js';

const dtsFile = path.join(path.dirname(defaultNativePath), 'index.d.ts');

/** The names index.d.ts exports; throws on an export line it cannot read. */
function declaredNames(source: string): string[] {
  const names: string[] = [];
  for (const line of source.split('\n')) {
    if (!line.startsWith('export')) continue;
    const m = /^export declare (?:function|const) (\w+)\b/.exec(line);
    if (!m) throw new Error(`exports.test: parse ${dtsFile}: got line ${JSON.stringify(line)}; want "export declare function|const <name>"`);
    names.push(m[1]!);
  }
  return names.sort();
}

t.test('index.d.ts declares exactly the exports of tern.node', async (t) => {
  const declared = declaredNames(readFileSync(dtsFile, 'utf8'));
  t.ok(declared.length > 0, `declared names in ${dtsFile}: got ${declared.length}; want at least 1`);
  const mod = loadNative() as unknown as Record<string, unknown>;
  const exported = Object.keys(mod).sort();

  const missing = declared.filter((n) => !exported.includes(n));
  const undeclared = exported.filter((n) => !declared.includes(n));
  t.same(missing, [], `declared but not exported: got ${missing.join(', ')}; want none (exported: ${exported.join(', ')})`);
  t.same(undeclared, [], `exported but not declared: got ${undeclared.join(', ')}; want none (declared: ${declared.join(', ')})`);
  for (const name of exported) {
    t.equal(typeof mod[name], 'function', `typeof ${name}: got ${typeof mod[name]}; want function`);
  }
});
