import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveRunDir } from './lab.js';

// Issue #15 (names from outside never become paths unchecked): `lab down REF` and friends.
t.test('resolveRunDir: a run directory as given, else only a well-formed prefix is looked up', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-ref-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'state.json'), '{}\n');
  t.equal(resolveRunDir(dir), dir, 'a directory holding state.json');
  for (const ref of ['../../../etc', '../tl1a2b3c', 'tl1a2b3c/../../x', '/nonexistent', '', 'TL1A2B3C']) {
    t.throws(() => resolveRunDir(ref), { code: 'TERN_E_LAB_STATE', message: /neither a lab run directory nor a lab prefix/ }, `resolveRunDir(${JSON.stringify(ref)}): want refused as no prefix`);
  }
  t.throws(() => resolveRunDir('tl000000'), { code: 'TERN_E_LAB_STATE', message: /nor the prefix of a known lab/ }, 'a well-formed prefix of no lab: not found');
});
