import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replaceFile, writeSecretFile } from './index.js';

t.test('writeSecretFile: 0600 whatever was there, content replaced, no temp file left', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-files-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string, number | null]> = [['new file', null], ['over 0644', 0o644], ['over 0666', 0o666], ['over 0600', 0o600]];
  for (const [what, mode] of cases) {
    const f = path.join(dir, `${what.replace(/\W/g, '_')}.conf`);
    if (mode !== null) {
      fs.writeFileSync(f, 'old\n');
      fs.chmodSync(f, mode);
    }
    writeSecretFile(f, Buffer.from('secret\n'));
    const got = fs.statSync(f).mode & 0o777;
    t.equal(got, 0o600, `${what}: got mode ${got.toString(8)}; want 600`);
    t.equal(fs.readFileSync(f, 'utf8'), 'secret\n', `${what}: the new content`);
  }
  t.same(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temp file left');
});

t.test('replaceFile without a mode keeps the old file\'s mode', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-files-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'tern.yaml');
  fs.writeFileSync(f, 'a\n');
  fs.chmodSync(f, 0o644);
  replaceFile(f, 'b\n');
  t.equal(fs.statSync(f).mode & 0o777, 0o644);
  t.equal(fs.readFileSync(f, 'utf8'), 'b\n');
});
