// The loader finds tern.node, honours TERN_NATIVE_PATH, refuses what is not
// Tern's module, and the module reports the crate version.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isTernError } from '../errors.js';
import { defaultNativePath, loadNative, nativePath, openNative } from './index.js';

t.test('nativePath: TERN_NATIVE_PATH overrides the repo default', async (t) => {
  const cases = [
    { env: {}, want: defaultNativePath },
    { env: { TERN_NATIVE_PATH: '' }, want: defaultNativePath },
    { env: { TERN_NATIVE_PATH: '/usr/lib/tern/native/tern.node' }, want: '/usr/lib/tern/native/tern.node' },
    { env: { TERN_NATIVE_PATH: 'build/x.node' }, want: path.resolve('build/x.node') },
  ];
  for (const c of cases) {
    const got = nativePath(c.env);
    t.equal(got, c.want, `nativePath(${JSON.stringify(c.env)}): got ${got}; want ${c.want}`);
  }
  t.ok(defaultNativePath.endsWith(path.join('native', 'tern.node')), `defaultNativePath: got ${defaultNativePath}; want <root>/native/tern.node`);
});

t.test('openNative refuses files that are not Tern\'s module', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tern-native-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const garbage = path.join(dir, 'garbage.node');
  writeFileSync(garbage, 'not an ELF file\n');
  // A CommonJS module without version() stands in for "some other addon".
  const other = path.join(dir, 'other.cjs');
  writeFileSync(other, 'module.exports = { hello() { return 1; } };\n');

  const cases = [
    { name: 'missing file', file: path.join(dir, 'absent.node'), want: 'does not exist' },
    { name: 'not a shared object', file: garbage, want: 'garbage.node: ' },
    { name: 'another module', file: other, want: "not Tern's native module" },
  ];
  for (const c of cases) {
    try {
      openNative(c.file);
      t.fail(`${c.name}: openNative(${c.file}): got a module; want TERN_E_NATIVE_LOAD`);
    } catch (err) {
      t.ok(isTernError(err, 'TERN_E_NATIVE_LOAD'), `${c.name}: got ${String(err)}; want TernError TERN_E_NATIVE_LOAD`);
      const message = (err as Error).message;
      t.ok(message.startsWith('native: load: ') && message.includes(c.want), `${c.name}: message got ${message}; want "native: load: ..." containing ${c.want}`);
    }
  }
});

t.test('loadNative is cached and reports the crate version', async (t) => {
  const a = loadNative();
  const b = loadNative();
  t.equal(a, b, 'loadNative twice: got two objects; want the same cached module');
  const cargo = readFileSync(path.join(path.dirname(defaultNativePath), 'Cargo.toml'), 'utf8');
  const want = /^version = "([^"]+)"$/m.exec(cargo)?.[1];
  const got = a.version();
  t.equal(got, want, `version(): got ${got}; want ${want} (native/Cargo.toml)`);
});
