import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { generatePrivateKey, publicKeyOf } from '../lib/kernel/index.js';
import { fakeDaemon, tempAppliance, ternctl, type TempAppliance } from './testkit.js';

/** Every file under dir with its bytes, to prove a refused command wrote nothing. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(p, fs.readFileSync(p, 'latin1'));
    }
  };
  walk(dir);
  return out;
}

/** The encodings a leaked 32-byte key could take in a file. */
function encodings(key: string): string[] {
  const raw = Buffer.from(key, 'base64');
  return [key, raw.toString('base64url'), raw.toString('hex'), raw.toString('hex').toUpperCase()];
}

/** A tunneld that answers what ra add needs from it: the box's public key. */
async function tunneld(app: TempAppliance): Promise<{ publicKey: string; stop(): Promise<void> }> {
  const publicKey = publicKeyOf(generatePrivateKey());
  const d = await fakeDaemon(app, 'tunneld', (ctx) => {
    ctx.bus.method('overlay.info', () => ({ site: 'office', publicKey, backend: 'kernel' }));
    return {};
  });
  return { publicKey, stop: () => d.stop() };
}

// Issue #15: `ra add NAME` wrote <keys>/users/NAME.key before NAME was
// checked, then removed that path when the apply refused the name, so
// ../../../x let root clobber and delete files outside the key store.
t.test('ra add: a name that is not a plain word is refused before anything is written', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  // Where <state>/keys/users/../../../victim.key lands: next to the appliance's directories.
  const victim = path.join(app.dir, 'victim.key');
  fs.writeFileSync(victim, 'not yours\n', { mode: 0o644 });
  const config = fs.readFileSync(app.env.TERN_CONFIG, 'utf8');
  const before = snapshot(app.dir);
  const names = ['../../../victim', '../victim', 'a/b', '/etc/passwd', '..', '.', 'Alice', '-rf', 'a b', 'x.key', 'a'.repeat(33), 'é', 'alice\n'];
  // With a key made here (the case that wrote a key file) and with one the user brings.
  for (const own of [[], ['--public-key', publicKeyOf(generatePrivateKey())]]) {
    for (const name of names) {
      const r = await ternctl(app, ['ra', 'add', ...own, '--', name]);
      const what = `ra add ${own.join(' ')} ${JSON.stringify(name)}`;
      t.equal(r.code, 2, `${what}: got exit ${r.code}; want 2 (usage) (${r.err.trim()})`);
      t.match(r.err, /ra add: user name .*want lowercase letters, digits, '-' and '_'/, `${what}: the error says what a name may be`);
    }
  }
  const left = fs.existsSync(victim) ? fs.readFileSync(victim, 'utf8') : '(deleted)';
  t.equal(left, 'not yours\n', `the file outside the key store: got ${JSON.stringify(left)}; want it untouched`);
  t.equal(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'), config, 'the config is untouched');
  const after = snapshot(app.dir);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((f) => before.get(f) !== after.get(f) && !f.endsWith('.db') && !f.includes('.db-'));
  t.same(changed, [], `got files created or changed: ${changed.join(', ')}; want none`);
});

t.test('ra add: the client private key leaves the box once, in the output; the box keeps only the public key', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const box = await tunneld(app);
  t.teardown(() => box.stop());
  const out = path.join(app.dir, 'alice.conf');
  // A stale world-readable file where the operator asked for the config: it must end up 0600.
  fs.writeFileSync(out, 'old\n', { mode: 0o644 });
  const r = await ternctl(app, ['ra', 'add', 'alice', '--out', out, '--json']);
  t.equal(r.code, 0, `ra add alice: got exit ${r.code}; want 0 (${r.err.trim()} ${r.out.slice(0, 400)})`);
  const doc = JSON.parse(r.out) as { data: { user: { publicKey: string }; config: string | null; qr: string | null } };
  const key = /^PrivateKey = (\S+)$/m.exec(doc.data.config ?? '')?.[1];
  t.ok(key, `the issued config carries the client's private key (got ${JSON.stringify(doc.data.config)})`);
  if (!key) return;
  t.equal(publicKeyOf(key), doc.data.user.publicKey, 'the key pair matches the config entry');
  t.match(doc.data.config!, new RegExp(`^PublicKey = ${box.publicKey.replace(/[+/]/g, '\\$&')}$`, 'm'), 'the peer is the box, by its public key');
  t.match(doc.data.config!, /^Endpoint = 198\.51\.100\.10:51819$/m, 'dialled on the first WAN at remoteUserPort');
  t.ok((doc.data.qr ?? '').length > 100, 'and a QR code of it');
  t.equal(fs.statSync(out).mode & 0o777, 0o600, `--out over a 0644 file: got mode ${(fs.statSync(out).mode & 0o777).toString(8)}; want 600`);
  t.equal(fs.readFileSync(out, 'utf8'), doc.data.config, '--out holds the config');
  const users = (parse(fs.readFileSync(app.env.TERN_CONFIG, 'utf8')) as { remoteUsers: Array<{ name: string; publicKey: string }> }).remoteUsers;
  t.equal(users.find((u) => u.name === 'alice')?.publicKey, publicKeyOf(key), 'tern.yaml has alice by public key');
  // Nothing on the box holds the private key, in any encoding (the --out file is the operator's copy).
  const leaks = [...snapshot(app.dir)].filter(([f, text]) => f !== out && encodings(key).some((e) => text.includes(e))).map(([f]) => f);
  t.same(leaks, [], `got the client private key in ${leaks.join(', ')}; want it nowhere on the box`);
  const show = await ternctl(app, ['ra', 'show', 'alice']);
  t.notOk(encodings(key).some((e) => show.out.includes(e) || show.err.includes(e)), 'ra show never prints it again');
});

t.test('ra rekey: a new pair for a user who lost theirs, printed once; ra show prints the rest of the config', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const box = await tunneld(app);
  t.teardown(() => box.stop());
  const users = (): Array<{ name: string; publicKey: string }> => (parse(fs.readFileSync(app.env.TERN_CONFIG, 'utf8')) as { remoteUsers: Array<{ name: string; publicKey: string }> }).remoteUsers;
  const before = users().find((u) => u.name === 'jane')!.publicKey;
  // A key an older release kept for jane: stale once she has a new pair.
  const legacy = path.join(app.env.TERN_STATE_DIR, 'keys', 'users', 'jane.key');
  fs.mkdirSync(path.dirname(legacy), { recursive: true, mode: 0o700 });
  fs.writeFileSync(legacy, `${generatePrivateKey()}\n`, { mode: 0o600 });
  const r = await ternctl(app, ['ra', 'rekey', 'jane', '--json']);
  t.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { data: { config: string; user: { publicKey: string } } };
  const key = /^PrivateKey = (\S+)$/m.exec(doc.data.config)?.[1] ?? '';
  t.equal(publicKeyOf(key), users().find((u) => u.name === 'jane')!.publicKey, 'tern.yaml has the new public key');
  t.not(users().find((u) => u.name === 'jane')!.publicKey, before, 'and not the old one');
  t.match(doc.data.config, /^DNS = 10\.10\.0\.53$/m, 'her DNS and routes stay');
  t.notOk(fs.existsSync(legacy), 'the stale stored key is deleted');

  const show = await ternctl(app, ['ra', 'show', 'jane']);
  t.equal(show.code, 0, show.err);
  t.match(show.out, /^# PrivateKey = /m);
  t.notMatch(show.out, /^PrivateKey/m);
  t.match(show.out, /^Address = 100\.64\.0\.101\/32$/m);
  const cases: Array<[string[], number, RegExp]> = [
    [['ra', 'rekey', 'old-laptop'], 1, /revoked/],
    [['ra', 'rekey', 'nobody'], 1, /no remote user 'nobody'/],
    [['ra', 'rekey', '--', '../jane'], 2, /user name/],
    [['ra', 'show', '--', '../jane'], 2, /user name/],
    [['ra', 'revoke', '--', '../../x'], 2, /user name/],
    [['ra', 'show', 'old-laptop'], 1, /revoked/],
  ];
  for (const [args, code, want] of cases) {
    const c = await ternctl(app, args);
    t.equal(c.code, code, `ternctl ${args.join(' ')}: got exit ${c.code}; want ${code} (${c.err.trim()})`);
    t.match(c.err, want);
  }
});

t.test('ra add: with tunneld down and no site key yet, nothing is added (there would be no config to hand over)', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const config = fs.readFileSync(app.env.TERN_CONFIG, 'utf8');
  const r = await ternctl(app, ['ra', 'add', 'bob', '--timeout', '2s']);
  t.equal(r.code, 3, `got exit ${r.code}; want 3 (${r.err.trim()})`);
  t.match(r.err, /ra add: the box's public key is unknown .*start tunneld first/);
  t.equal(fs.readFileSync(app.env.TERN_CONFIG, 'utf8'), config, 'the config is untouched');
});
