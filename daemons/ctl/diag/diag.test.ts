import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { generatePrivateKey, publicKeyOf } from '../../lib/kernel/index.js';
import { fakeDaemon, tempAppliance, ternctl } from '../testkit.js';
import { Redactor, redactedMark } from './redact.js';
import { tar } from './tar.js';

t.test('tar: system tar reads what we write, long names included', async (t) => {
  const dir = fs.mkdtempSync('/tmp/ternctl-tar-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const long = `${'deep/'.repeat(30)}file.txt`;
  const entries = [{ name: 'a/hello.txt', data: 'hello\n' }, { name: long, data: Buffer.alloc(1000, 0x41) }, { name: 'empty', data: '' }];
  fs.writeFileSync(path.join(dir, 'x.tar.gz'), zlib.gzipSync(tar(entries)));
  const list = spawnSync('tar', ['-tzf', path.join(dir, 'x.tar.gz')], { encoding: 'utf8' });
  t.equal(list.status, 0, list.stderr);
  t.same(list.stdout.trim().split('\n'), entries.map((e) => e.name));
  const x = spawnSync('tar', ['-xzf', path.join(dir, 'x.tar.gz'), '-C', dir], { encoding: 'utf8' });
  t.equal(x.status, 0, x.stderr);
  t.equal(fs.readFileSync(path.join(dir, 'a/hello.txt'), 'utf8'), 'hello\n');
  t.equal(fs.readFileSync(path.join(dir, long)).length, 1000);
});

t.test('redaction: known secrets anywhere, labelled secrets always, public keys and flags kept', async (t) => {
  const secret = generatePrivateKey();
  const psk = generatePrivateKey();
  const pub = publicKeyOf(secret);
  const r = new Redactor([secret, psk]);
  const cases: Array<[string, string]> = [
    [`free text ${secret} in a log`, `free text ${redactedMark} in a log`],
    [`PrivateKey = ${generatePrivateKey()}`, `PrivateKey = ${redactedMark}`],
    [`  PresharedKey=${generatePrivateKey()}`, `  PresharedKey=${redactedMark}`],
    [`private_key=${'a'.repeat(64)}`, `private_key=${redactedMark}`],
    [`{"privateKey":"${generatePrivateKey()}","publicKey":"${pub}"}`, `{"privateKey":"${redactedMark}","publicKey":"${pub}"}`],
    [`presharedKey: ${psk}`, `presharedKey: ${redactedMark}`],
    ['"hasPresharedKey": false', '"hasPresharedKey": false'],
    ['privateKeyFile: /var/lib/tern/keys/overlay.key', 'privateKeyFile: /var/lib/tern/keys/overlay.key'],
    ['password: hunter2', `password: ${redactedMark}`],
    ['preshared key: (hidden)', 'preshared key: (hidden)'],
    [`publicKey: ${pub}`, `publicKey: ${pub}`],
  ];
  for (const [input, want] of cases) t.equal(r.redact(input), want, `${input}: got ${r.redact(input)}; want ${want}`);
});

t.test('the bundle: every part there, no private key in it', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  // The box's secrets: the site key, a user's client key, and a preshared key file the config names.
  const keys = path.join(app.env.TERN_STATE_DIR, 'keys');
  fs.mkdirSync(path.join(keys, 'users'), { recursive: true });
  const site = generatePrivateKey();
  const user = generatePrivateKey();
  const psk = generatePrivateKey();
  fs.writeFileSync(path.join(keys, 'overlay.key'), `${site}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(keys, 'users', 'alice.key'), `${user}\n`, { mode: 0o600 });
  const pskFile = path.join(app.dir, 'psk-home.key');
  fs.writeFileSync(pskFile, `${psk}\n`, { mode: 0o600 });
  const cfg = fs.readFileSync(app.env.TERN_CONFIG, 'utf8').replace(/(publicKey: yEmZ9YUSURDdEs5dQycM\+X3KUk\+KBvq6UFhiowFCTHU=)/, `$1\n      presharedKeyFile: ${pskFile}`);
  fs.writeFileSync(app.env.TERN_CONFIG, cfg);
  // A daemon that leaks all three (a bug we must not ship to support), and logs that do too.
  const d = await fakeDaemon(app, 'tunneld', (ctx) => {
    ctx.bus.method('paths.list', () => [{ name: 'isp-a/home/inet', site: 'home', state: 'up', debug: `key ${site} psk ${psk}` }]);
    ctx.bus.method('overlay.info', () => ({ note: `PrivateKey = ${user}` }));
    return {};
  });
  t.teardown(() => d.stop());
  const logs = path.join(app.dir, 'logs');
  fs.mkdirSync(logs);
  fs.writeFileSync(path.join(logs, 'office-a.tunneld.log'), `${JSON.stringify({ level: 30, time: new Date().toISOString(), daemon: 'tern-tunneld', msg: `loaded ${site}` })}\n`);

  const out = path.join(app.dir, 'bundle.tar.gz');
  const r = await ternctl(app, ['diag', '--out', out, '--log-dir', logs, '--json', '--timeout', '30s']);
  t.equal(r.code, 0, r.err || r.out);
  const doc = JSON.parse(r.out) as { data: { file: string; manifest: { redaction: { knownSecrets: number; replaced: number }; items: Array<{ path: string }> } } };
  t.equal(doc.data.file, out);
  t.equal(fs.statSync(out).mode & 0o777, 0o600, 'the bundle is readable by root only');
  t.ok(doc.data.manifest.redaction.knownSecrets >= 3, 'all three secrets known');
  t.ok(doc.data.manifest.redaction.replaced >= 4, `got ${doc.data.manifest.redaction.replaced} replacements; want at least 4 (each leak)`);
  const names = doc.data.manifest.items.map((i) => i.path);
  for (const want of ['config/tern.yaml', 'config/history.json', 'state/status.json', 'state/daemons/tunneld.json', 'state/events.json', 'metrics/metrics.prom', 'logs/tunneld.log', 'host/facts.json', 'net/ip-addr.txt', 'net/ip-route.txt', 'net/ip-rule.txt']) {
    t.ok(names.includes(want), `bundle holds ${want}`);
  }
  const plain = zlib.gunzipSync(fs.readFileSync(out)).toString('latin1');
  for (const [what, k] of [['site key', site], ['user key', user], ['preshared key', psk]] as const) {
    t.equal(plain.split(k).length - 1, 0, `${what}: got ${plain.split(k).length - 1} occurrences in the bundle; want 0`);
  }
  t.match(plain, /isp-a\/home\/inet/, 'the leaking daemon\'s answer is in the bundle, redacted');
  t.match(plain, /tern_daemon_up\{daemon="tunneld",installed="true"\} 1/, 'metrics show tunneld up');
});
