import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TernConfig } from '../lib/config/index.js';
import type { PairConfig } from '../lib/config/schema.js';
import { generatePrivateKey, keyBytes } from '../lib/kernel/index.js';
import { chooseLocalAddress, loadSyncKey, siteKeyFiles } from './daemon.js';
import { pairSettings } from './settings.js';
import { deriveSyncKey } from './syncwire.js';

const pair = (vips: string[]): PairConfig => ({
  enabled: true, vrid: 1, vips, priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0,
  unicastPeers: [], peerWans: [], checksum: 'rfc9568', garp: { count: 3, spacingMs: 100 }, virtualMac: false, track: [], holdDownMs: 2000,
});

t.test('the advert source address', async (t) => {
  const v4 = pairSettings(pair(['10.1.0.1/24']));
  const v6 = pairSettings(pair(['2001:db8::1/64']));
  const cases = [
    { name: 'the LAN address when on the interface', s: v4, lan: '10.1.0.2/24', on: ['10.1.0.1/24', '10.1.0.2/24'], want: '10.1.0.2' },
    { name: 'never a VIP', s: v4, lan: '10.9.9.9/24', on: ['10.1.0.1/24', '10.1.0.3/24'], want: '10.1.0.3' },
    { name: 'nothing but the VIP', s: v4, lan: '10.1.0.2/24', on: ['10.1.0.1/24'], want: undefined },
    { name: 'IPv6: the link-local address', s: v6, lan: '2001:db8::2/64', on: ['2001:db8::2/64', 'fe80::c4b6:9fff:fe15:d272/64', 'fe80::200:5eff:fe00:201/64'], want: 'fe80::c4b6:9fff:fe15:d272' },
    { name: 'IPv6 without link-local', s: v6, lan: '2001:db8::2/64', on: ['2001:db8::2/64'], want: undefined },
  ];
  for (const c of cases) {
    const got = chooseLocalAddress(c.s, c.lan, c.on);
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
});

t.test('the pair-sync key comes from the site key file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-paird-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = generatePrivateKey();
  const cfg = (file?: string): TernConfig => ({
    identity: { site: 'office', name: 'office1' }, overlay: file ? { privateKeyFile: file } : {}, pair: pair(['10.1.0.1/24']),
  }) as unknown as TernConfig;
  t.same(siteKeyFiles(cfg(), dir, undefined), [path.join(dir, 'overlay.key')], 'default: <keys>/overlay.key, where tunneld keeps it');
  t.same(siteKeyFiles(cfg('/etc/tern/site.key'), dir, undefined), ['/etc/tern/site.key'], 'or overlay.privateKeyFile');
  // Under systemd the key store is hidden from paird; its unit loads the site key as a credential.
  const creds = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-creds-'));
  t.teardown(() => fs.rmSync(creds, { recursive: true, force: true }));
  t.same(siteKeyFiles(cfg(), dir, creds), [path.join(dir, 'overlay.key'), path.join(creds, 'site.key')], 'then the credential systemd loaded');
  const credKey = generatePrivateKey();
  fs.writeFileSync(path.join(creds, 'site.key'), `${credKey}\n`, { mode: 0o400 });
  const fromCred = loadSyncKey(cfg(path.join(dir, 'hidden', 'overlay.key')), dir, creds);
  t.same(fromCred.id, deriveSyncKey(keyBytes(credKey), 'office', 1).id, 'the key store unreadable: the credential gives the same sync key');
  t.throws(() => loadSyncKey(cfg(path.join(dir, 'hidden', 'overlay.key')), dir, fs.mkdtempSync(path.join(os.tmpdir(), 'tern-nocreds-'))),
    { code: 'TERN_E_KEY_FILE', message: /hidden\/overlay\.key: cannot read/ }, 'neither readable: the error names the file the config means');
  fs.writeFileSync(path.join(dir, 'overlay.key'), `${key}\n`, { mode: 0o600 });
  const got = loadSyncKey(cfg(), dir);
  const want = deriveSyncKey(keyBytes(key), 'office', 1);
  t.equal(got.id, want.id, `key id: got ${got.id}; want ${want.id}`);
  t.ok(got.secret.equals(want.secret), 'HKDF of the site key with the site and VRID');
  fs.chmodSync(path.join(dir, 'overlay.key'), 0o644);
  t.throws(() => loadSyncKey(cfg(), dir), { code: 'TERN_E_KEY_FILE', message: /^paird: sync key: .*overlay\.key: mode 644/ }, 'a key others can read is refused');
  t.throws(() => loadSyncKey(cfg(path.join(dir, 'missing.key')), dir), { code: 'TERN_E_KEY_FILE', message: /missing\.key: cannot read/ }, 'a missing file names the file');
});
