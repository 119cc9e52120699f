import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generatePrivateKey } from '../lib/kernel/index.js';
import { readKeyFile, userKeyPath, writeKeyFile } from './keys.js';

const asRoot = process.getuid?.() !== 0 ? 'needs root to make files for another user' : false;

// Issue 15: tunneld runs as tern-tunneld and owns /var/lib/tern/keys;
// ternctl ra add, as root, stores a remote user's client key there. The key
// (and keys/users, made for it) must be tunneld's, or ra.config cannot read it.
t.test('a key root writes takes the keys directory\'s owner', { skip: asRoot }, async (t) => {
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-keys-'));
  t.teardown(() => fs.rmSync(keysDir, { recursive: true, force: true }));
  const [uid, gid] = [4244, 4245];
  fs.chownSync(keysDir, uid, gid);
  fs.chmodSync(keysDir, 0o700);
  const file = userKeyPath(keysDir, 'alice');
  writeKeyFile(file, generatePrivateKey());
  for (const [p, mode] of [[path.dirname(file), 0o700], [file, 0o600]] as const) {
    const st = fs.statSync(p);
    t.equal(`${st.uid}:${st.gid}`, `${uid}:${gid}`, `${path.relative(keysDir, p)}: owner got ${st.uid}:${st.gid}; want ${uid}:${gid} (the keys directory's)`);
    t.equal(st.mode & 0o777, mode, `${path.relative(keysDir, p)}: mode got ${(st.mode & 0o777).toString(8)}; want ${mode.toString(8)}`);
  }
  t.same(fs.readdirSync(path.dirname(file)), ['alice.key'], 'no temporary file left');

  // That user reads it (as tunneld would), and nobody else.
  const reader = path.join(path.dirname(fileURLToPath(import.meta.url)), 'keys.js');
  const read = (asUid: number) => spawnSync(process.execPath, ['--input-type=module', '-e',
    `import { readKeyFile } from ${JSON.stringify(reader)};
     try { readKeyFile(${JSON.stringify(file)}); console.log('read'); } catch (e) { console.log(e.code, e.message); process.exit(3); }`],
  { uid: asUid, gid, encoding: 'utf8', env: { PATH: process.env.PATH } });
  const owner = read(uid);
  t.equal(`${owner.status} ${owner.stdout.trim()}`, '0 read', `read as uid ${uid}: got exit ${owner.status} '${owner.stdout.trim()}' ${owner.stderr.trim()}; want 0 read`);
  const other = read(4246);
  t.equal(other.status, 3, `read as another uid: exit got ${other.status}; want 3 (refused) ${other.stderr.trim()}`);
  t.match(other.stdout, /^TERN_E_TUNNEL_KEY tunneld: keys: .*: cannot read: .*EACCES.*; want it \(and its directories\) owned by the user tunneld runs as, uid 4246/,
    `another uid: got '${other.stdout.trim()}'; want EACCES naming whose the key must be`);
});

t.test('key files: mode 600 kept, looser modes and non-keys refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-keys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = generatePrivateKey();
  const file = path.join(dir, 'overlay.key');
  writeKeyFile(file, key);
  t.equal(readKeyFile(file), key, 'round trip');
  const cases: [string, () => void, RegExp][] = [
    ['mode 644', () => { fs.chmodSync(file, 0o644); }, /mode 644 lets others read a secret; want 600/],
    ['not a key', () => { fs.writeFileSync(file, 'hello\n', { mode: 0o600 }); fs.chmodSync(file, 0o600); }, /does not hold a WireGuard key/],
    ['missing', () => { fs.rmSync(file); }, /cannot read: .*ENOENT/],
  ];
  for (const [name, make, want] of cases) {
    make();
    t.throws(() => readKeyFile(file), { code: 'TERN_E_TUNNEL_KEY', message: want }, `${name}: want TERN_E_TUNNEL_KEY matching ${want}`);
  }
});
