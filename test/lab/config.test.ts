// Unit tests of the lab's tern.yaml writer: every appliance's config passes
// the real config loader and says what the topology says (no root needed).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseConfig } from '../../daemons/lib/config/index.js';
import { generateKeyPair, labKeys, renderApplianceConfig } from './config.js';
import { defaultTopology } from './topology.js';

function publicOf(privateKey: string): string {
  // X25519 private key → public key, independently of generateKeyPair.
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(privateKey, 'base64')]);
  const key = crypto.createPublicKey(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}

t.test('generated key pairs are WireGuard keys that belong together', async (t) => {
  const kp = generateKeyPair();
  t.match(kp.privateKey, /^[A-Za-z0-9+/]{43}=$/, `got private key ${kp.privateKey.length} chars; want 44-char base64`);
  t.equal(publicOf(kp.privateKey), kp.publicKey, 'got a public key that is not the private key\'s; want the matching one');
});

t.test('every appliance config validates with the config loader', async (t) => {
  const topo = defaultTopology();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keys = labKeys(topo, path.join(dir, 'keys'));
  const again = labKeys(topo, path.join(dir, 'keys'));
  t.equal(again.sites.get('office')?.publicKey, keys.sites.get('office')?.publicKey, 'keys are kept: a second call returns the same keys');

  const appliances = topo.nodes.filter((n) => n.role === 'appliance').map((n) => n.name);
  t.same(appliances, ['office1', 'office2', 'home1', 'cloud1']);
  const configs = new Map<string, ReturnType<typeof parseConfig>['config']>();
  for (const a of appliances) {
    const text = renderApplianceConfig(topo, a, keys, { privateKeyFile: `/var/lib/tern/keys/overlay.key`, labName: 'tltest00' });
    let loaded: ReturnType<typeof parseConfig> | undefined;
    try {
      loaded = parseConfig(text, `${a}/tern.yaml`);
    } catch (err) {
      t.fail(`config of ${a}: got ${(err as Error).message}; want a valid config`);
      continue;
    }
    configs.set(a, loaded.config);
  }
  t.equal(configs.size, appliances.length, `got ${configs.size} valid configs; want ${appliances.length}`);

  const o1 = configs.get('office1');
  const o2 = configs.get('office2');
  const h1 = configs.get('home1');
  if (!o1 || !o2 || !h1) return;
  const table: Array<[string, unknown, unknown]> = [
    ['office1 site', o1.identity.site, 'office'],
    ['office2 site', o2.identity.site, 'office'],
    ['office1 WAN address', o1.wans[0]?.address, '198.18.1.2/30'],
    ['office1 WAN gateway', o1.wans[0]?.gateway, '198.18.1.1'],
    ['office1 LAN address', o1.lan.address, '10.1.0.2/24'],
    ['office2 LAN address', o2.lan.address, '10.1.0.3/24'],
    ['office1 VIP', o1.pair?.vips, ['10.1.0.1/24']],
    ['office1 priority', o1.pair?.priority, 150],
    ['office2 priority', o2.pair?.priority, 100],
    ['office1 peer WANs', o1.pair?.peerWans, ['ispb']],
    ['office2 peer WANs', o2.pair?.peerWans, ['ispa']],
    ['home1 has no pair', h1.pair, undefined],
    ['office pair shares the overlay address', o1.overlay.address, o2.overlay.address],
    ['home sees both office WANs', h1.overlay.sites.find((s) => s.id === 'office')?.wans.map((w) => w.endpoint), ['198.18.1.2:51820', '198.18.2.2:51820']],
    ['home knows the office key', h1.overlay.sites.find((s) => s.id === 'office')?.publicKey, publicOf(keys.sites.get('office')!.privateKey)],
    ['the roadwarrior is an office remote user', o1.remoteUsers.map((u) => u.name), ['rw']],
    ['home has no remote users', h1.remoteUsers.length, 0],
    ['home1 WANs: the fiber, and the LTE metered and dearer', h1.wans.map((w) => [w.name, w.metered, w.cost]), [['ispa', false, 10], ['ispd', true, 50]]],
    ['office sees both home WANs', o1.overlay.sites.find((s) => s.id === 'home')?.wans.map((w) => w.endpoint), ['198.18.1.6:51820', '198.18.4.2:51820']],
  ];
  for (const [what, got, want] of table) t.same(got, want, `${what}: got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
});

t.test('only appliances get a config', async (t) => {
  const topo = defaultTopology();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.throws(() => renderApplianceConfig(topo, 'officehost', labKeys(topo, dir), { privateKeyFile: '/k' }), { code: 'TERN_E_LAB_TOPOLOGY' });
});
