import t from 'tap';
import { generatePresharedKey, generatePrivateKey, keyBytes, keyDigest, publicKeyOf } from './keys.js';
import { isEmptyChange, planChange, publicState, summarize } from './plan.js';
import type { DesiredDevice, DeviceChange, DeviceSnapshot } from './types.js';

const priv = generatePrivateKey();
const pubA = publicKeyOf(generatePrivateKey());
const pubB = publicKeyOf(generatePrivateKey());
const psk = generatePresharedKey();

type SnapPeer = DeviceSnapshot['peers'][number];
const peer = (publicKey: string, extra: Partial<SnapPeer> = {}): SnapPeer => ({
  publicKey, endpoint: null, allowedIps: [], persistentKeepalive: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0,
  hasPresharedKey: false, presharedKeyDigest: null, ...extra,
});

const current = (extra: Partial<DeviceSnapshot> = {}): DeviceSnapshot => ({
  ifname: 'tn0', hasPrivateKey: true, publicKey: publicKeyOf(priv), listenPort: 51820, fwmark: 0,
  peers: [
    peer(pubA, { endpoint: '[2001:db8::1]:51820', allowedIps: ['10.2.0.0/24', '10.3.0.0/24'], persistentKeepalive: 25 }),
    peer(pubB, { endpoint: '192.0.2.2:51820', allowedIps: ['10.4.0.0/24'], hasPresharedKey: true, presharedKeyDigest: keyDigest(keyBytes(psk)) }),
  ],
  ...extra,
});

const desired = (extra: Partial<DesiredDevice> = {}): DesiredDevice => ({
  privateKey: priv, listenPort: 51820,
  peers: [
    { publicKey: pubA, endpoint: '[2001:DB8:0::1]:51820', allowedIps: ['10.3.0.0/24', '10.2.0.9/24'], persistentKeepalive: 25 },
    { publicKey: pubB, endpoint: '192.0.2.2:51820', allowedIps: ['10.4.0.0/24'], presharedKey: psk },
  ],
  ...extra,
});

t.test('planChange yields only what differs', async (t) => {
  const cases: [string, DeviceSnapshot, DesiredDevice, DeviceChange][] = [
    ['identical (text forms and order differ)', current(), desired(), { peers: [] }],
    ['listen port 0 keeps the port WireGuard picked', current({ listenPort: 39898 }), desired({ listenPort: 0 }), { peers: [] }],
    ['listen port omitted is left', current({ listenPort: 39898 }), desired({ listenPort: undefined }), { peers: [] }],
    ['listen port changed', current(), desired({ listenPort: 51821 }), { listenPort: 51821, peers: [] }],
    ['fwmark set', current(), desired({ fwmark: 0x1234 }), { fwmark: 0x1234, peers: [] }],
    ['fwmark off when on', current({ fwmark: 7 }), desired({ fwmark: 0 }), { fwmark: 0, peers: [] }],
    ['new private key', current({ publicKey: pubB }), desired(), { privateKey: priv, peers: [] }],
    ['fresh device', { ...current(), hasPrivateKey: false, publicKey: null, listenPort: 40000, peers: [] }, desired(), {
      privateKey: priv, listenPort: 51820,
      peers: [
        { publicKey: pubA, allowedIps: ['10.3.0.0/24', '10.2.0.0/24'], persistentKeepalive: 25, endpoint: '[2001:db8::1]:51820' },
        { publicKey: pubB, allowedIps: ['10.4.0.0/24'], persistentKeepalive: 0, endpoint: '192.0.2.2:51820', presharedKey: psk },
      ],
    }],
    ['one peer removed', current(), desired({ peers: [desired().peers[0]!] }), { peers: [{ publicKey: pubB, remove: true }] }],
    ['one peer allowed IPs changed', current(), desired({ peers: [desired().peers[0]!, { ...desired().peers[1]!, allowedIps: ['10.4.0.0/24', '10.5.0.0/24'] }] }), {
      peers: [{ publicKey: pubB, allowedIps: ['10.4.0.0/24', '10.5.0.0/24'] }],
    }],
    ['endpoint omitted is left (roaming peer)', current(), desired({ peers: [{ ...desired().peers[0]!, endpoint: undefined }, desired().peers[1]!] }), { peers: [] }],
    ['endpoint moved', current(), desired({ peers: [desired().peers[0]!, { ...desired().peers[1]!, endpoint: '198.51.100.2:51820' }] }), {
      peers: [{ publicKey: pubB, endpoint: '198.51.100.2:51820' }],
    }],
    ['keepalive off', current(), desired({ peers: [{ ...desired().peers[0]!, persistentKeepalive: undefined }, desired().peers[1]!] }), {
      peers: [{ publicKey: pubA, persistentKeepalive: 0 }],
    }],
    ['preshared key removed', current(), desired({ peers: [desired().peers[0]!, { ...desired().peers[1]!, presharedKey: undefined }] }), {
      peers: [{ publicKey: pubB, presharedKey: null }],
    }],
  ];
  const rotated = generatePresharedKey();
  cases.push(['preshared key rotated', current(), desired({ peers: [desired().peers[0]!, { ...desired().peers[1]!, presharedKey: rotated }] }), {
    peers: [{ publicKey: pubB, presharedKey: rotated }],
  }]);
  for (const [name, cur, want, change] of cases) {
    const got = planChange('tn0', cur, want);
    t.same(got, change, `${name}: got ${JSON.stringify(got)}`);
  }
});

t.test('removals come before additions', async (t) => {
  const c = planChange('tn0', current({ peers: [peer(pubB, { allowedIps: ['10.9.0.0/24'] })] }), desired({ peers: [{ publicKey: pubA, allowedIps: ['10.9.0.0/24'] }] }));
  t.same(c.peers.map((p) => [p.publicKey, p.remove === true]), [[pubB, true], [pubA, false]]);
});

t.test('bad desired state is refused before anything is sent', async (t) => {
  const own = publicKeyOf(priv);
  const bad: [string, DesiredDevice][] = [
    ['malformed private key', desired({ privateKey: 'nope' })],
    ['peers not an array', { privateKey: priv } as DesiredDevice],
    ['malformed peer key', desired({ peers: [{ publicKey: 'abc', allowedIps: [] }] })],
    ['duplicate peer', desired({ peers: [{ publicKey: pubA, allowedIps: [] }, { publicKey: pubA, allowedIps: [] }] })],
    ['own key as peer', desired({ peers: [{ publicKey: own, allowedIps: [] }] })],
    ['allowed IP on two peers', desired({ peers: [{ publicKey: pubA, allowedIps: ['10.0.0.0/8'] }, { publicKey: pubB, allowedIps: ['10.0.0.1/8'] }] })],
    ['bad allowed IP', desired({ peers: [{ publicKey: pubA, allowedIps: ['10.0.0.0/40'] }] })],
    ['bad endpoint', desired({ peers: [{ publicKey: pubA, allowedIps: [], endpoint: 'vpn.example:51820' }] })],
    ['keepalive too big', desired({ peers: [{ publicKey: pubA, allowedIps: [], persistentKeepalive: 70000 }] })],
    ['listen port too big', desired({ listenPort: 65536 })],
    ['malformed preshared key', desired({ peers: [{ publicKey: pubA, allowedIps: [], presharedKey: 'x' }] })],
  ];
  for (const [name, d] of bad) t.throws(() => planChange('tn0', current(), d), { code: 'TERN_E_KERNEL_ARG' }, `${name}: got no TERN_E_KERNEL_ARG; want one`);
  const msg = (() => { try { planChange('tn0', current(), desired({ peers: [{ publicKey: pubA, allowedIps: [], presharedKey: `${psk}x` }] })); return ''; } catch (e) { return (e as Error).message; } })();
  t.notMatch(msg, psk, 'a malformed secret is not echoed');
});

t.test('summarize and publicState are safe to log', async (t) => {
  const cur = current();
  const change = planChange('tn0', cur, desired({
    listenPort: 1,
    peers: [{ publicKey: pubA, allowedIps: ['10.2.0.0/24'] }, { publicKey: publicKeyOf(generatePrivateKey()), allowedIps: [] }],
  }));
  const s = summarize(change, cur, 1);
  t.same(s.device, ['listenPort']);
  t.same(s.updated, [pubA]);
  t.equal(s.added.length, 1);
  t.same(s.removed, [pubB]);
  t.equal(s.requests, 1);
  t.notOk(isEmptyChange(change));
  t.ok(isEmptyChange({ peers: [] }));
  const pub = publicState(cur);
  t.notOk('presharedKeyDigest' in pub.peers[1]!, 'the digest is not in the public state');
  t.equal(pub.peers[1]!.hasPresharedKey, true);
});
