import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TernError, errorCodes, isTernError } from './errors.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const docCodes = (): Set<string> => {
  const doc = fs.readFileSync(path.join(repo, 'docs/errors.md'), 'utf8');
  return new Set([...doc.matchAll(/^\|\s*`(TERN_E_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]!));
};

t.test('every error code is documented in docs/errors.md and every documented code exists', async (t) => {
  const docs = docCodes();
  const code = new Set(Object.keys(errorCodes));
  const undocumented = [...code].filter((c) => !docs.has(c));
  const stale = [...docs].filter((c) => !code.has(c));
  t.same(undocumented, [], `got undocumented codes ${undocumented.join(', ')}; want none`);
  t.same(stale, [], `got documented codes that no longer exist ${stale.join(', ')}; want none`);
});

t.test('codes used in source (TypeScript and Rust) all exist', async (t) => {
  const used = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'target' || e.name === 'dist' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|rs)$/.test(e.name) && !e.name.endsWith('.test.ts')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/\bTERN_E_[A-Z0-9_]+\b/g)) used.add(m[0]);
      }
    }
  };
  for (const d of ['daemons', 'native/src', 'test']) if (fs.existsSync(path.join(repo, d))) walk(path.join(repo, d));
  const unknown = [...used].filter((c) => !(c in errorCodes));
  t.same(unknown, [], `got codes used but not defined ${unknown.join(', ')}; want none`);
});

t.test('TernError carries code, details and cause', async (t) => {
  const cause = new Error('low');
  const e = new TernError('TERN_E_CONFIG_KEY', 'config: load: bad', { cause, details: { path: 'wans[0]' } });
  t.equal(e.code, 'TERN_E_CONFIG_KEY');
  t.equal(e.cause, cause);
  t.same(e.toJSON(), { code: 'TERN_E_CONFIG_KEY', message: 'config: load: bad', details: { path: 'wans[0]' } });
  t.ok(isTernError(e, 'TERN_E_CONFIG_KEY'));
  t.notOk(isTernError(e, 'TERN_E_BUS_PARSE'));
  t.notOk(isTernError(new Error('x')));
});
