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

/** A 32-byte secret in every form a tool, a log or a person may write it. */
function encodings(key: string): Array<[string, string]> {
  const raw = Buffer.from(key, 'base64');
  return [
    ['base64', raw.toString('base64')],
    ['base64 unpadded', raw.toString('base64').replace(/=+$/, '')],
    ['base64url', raw.toString('base64url')],
    ['base64url padded', `${raw.toString('base64url')}=`],
    ['hex', raw.toString('hex')],
    ['HEX', raw.toString('hex').toUpperCase()],
  ];
}

/** A secret whose base64 and base64url differ, so both forms are really tried. */
function urlDistinctKey(): string {
  for (;;) {
    const k = generatePrivateKey();
    if (/[+/]/.test(k)) return k;
  }
}

// Issue #15: keys written in hex or base64url went into the bundle as they were.
t.test('redaction by value: a known secret in every encoding, in every place', async (t) => {
  const secret = urlDistinctKey();
  const r = new Redactor([secret]);
  const places: Array<[string, (v: string) => string]> = [
    ['free text', (v) => `handshake with ${v} done`],
    ['start of a line', (v) => `${v} trailing`],
    ['a JSON value four levels down under a neutral name', (v) => JSON.stringify({ a: { b: [{ c: { blob: v } }] } })],
    ['a YAML value', (v) => `notes:\n  - seen: ${v}\n`],
    ['wg show dump columns', (v) => `tn1-3-00\t${v}\t51820\toff`],
    ['a UAPI line', (v) => `public_key=${v}\n`],
    ['glued between words', (v) => `x${v}y`],
    ['a URL query', (v) => `https://example.net/enrol?k=${v}&x=1`],
  ];
  for (const [enc, value] of encodings(secret)) {
    for (const [where, put] of places) {
      const got = r.redact(put(value));
      t.notOk(got.includes(value), `${enc} in ${where}: got ${got}; want the value gone`);
      t.ok(got.includes(redactedMark), `${enc} in ${where}: got ${got}; want ${redactedMark} in its place`);
    }
  }
  const other = generatePrivateKey();
  t.equal(r.redact(`peer ${publicKeyOf(other)}`), `peer ${publicKeyOf(other)}`, 'a value that is no secret of the box stays');
});

t.test('redaction by name: any case, any depth, any spelling of the label', async (t) => {
  const r = new Redactor([]);
  const unknown = 'c2VjcmV0LXRoYXQtaXMtbm90LWEta2V5';
  const cases: Array<[string, string]> = [
    [`{"a":{"b":{"c":{"PrivateKey":"${unknown}"}}}}`, `{"a":{"b":{"c":{"PrivateKey":"${redactedMark}"}}}}`],
    [`{"a":{"b":{"c":{"PRIVATE_KEY":"${unknown}"}}}}`, `{"a":{"b":{"c":{"PRIVATE_KEY":"${redactedMark}"}}}}`],
    [`  privatekey: ${unknown}`, `  privatekey: ${redactedMark}`],
    [`"private-key": "${unknown}"`, `"private-key": "${redactedMark}"`],
    [`presharedKey=${unknown}`, `presharedKey=${redactedMark}`],
    [`"clientSecret": "${unknown}"`, `"clientSecret": "${redactedMark}"`],
    [`enrolToken: ${unknown}`, `enrolToken: ${redactedMark}`],
    [`"etcdPassword":"${unknown}"`, `"etcdPassword":"${redactedMark}"`],
    ['"hasPresharedKey": false', '"hasPresharedKey": false'],
    ['"presharedKeyFile": "/var/lib/tern/keys/cloud.psk"', '"presharedKeyFile": "/var/lib/tern/keys/cloud.psk"'],
    ['"tokens": 12', '"tokens": 12'],
  ];
  for (const [input, want] of cases) t.equal(r.redact(input), want, `${input}: got ${r.redact(input)}; want ${want}`);
});

// Issue #15: writeFileSync's mode only applies to a new file; an old 0644 one stayed 0644.
t.test('the bundle is 0600 even when it replaces a world-readable file', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const out = path.join(app.dir, 'bundle.tar.gz');
  fs.writeFileSync(out, 'an older bundle\n', { mode: 0o644 });
  fs.chmodSync(out, 0o644);
  const r = await ternctl(app, ['diag', '--out', out, '--log-dir', app.dir, '--timeout', '5s']);
  t.equal(r.code, 0, r.err || r.out);
  const mode = fs.statSync(out).mode & 0o777;
  t.equal(mode, 0o600, `got mode ${mode.toString(8)}; want 600`);
  t.not(fs.readFileSync(out, 'utf8'), 'an older bundle\n', 'the file holds the new bundle');
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
    ctx.bus.method('paths.list', () => [{ name: 'isp-a/home/inet', site: 'home', state: 'up', debug: `key ${site} psk ${psk}`,
      deep: { a: { b: { hex: Buffer.from(site, 'base64').toString('hex'), url: Buffer.from(psk, 'base64').toString('base64url') } } } }]);
    ctx.bus.method('overlay.info', () => ({ note: `PrivateKey = ${user}` }));
    return {};
  });
  t.teardown(() => d.stop());
  const logs = path.join(app.dir, 'logs');
  fs.mkdirSync(logs);
  fs.writeFileSync(path.join(logs, 'office-a.tunneld.log'), `${JSON.stringify({ level: 30, time: new Date().toISOString(), daemon: 'tern-tunneld', msg: `loaded ${site}`, peer: { key: Buffer.from(user, 'base64').toString('hex').toUpperCase() } })}\n`);

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
    for (const [enc, v] of encodings(k)) {
      t.equal(plain.split(v).length - 1, 0, `${what} (${enc}): got ${plain.split(v).length - 1} occurrences in the bundle; want 0`);
    }
  }
  t.match(plain, /isp-a\/home\/inet/, 'the leaking daemon\'s answer is in the bundle, redacted');
  t.match(plain, /tern_daemon_up\{daemon="tunneld",installed="true"\} 1/, 'metrics show tunneld up');
});
