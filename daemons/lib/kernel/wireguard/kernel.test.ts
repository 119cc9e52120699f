// The kernel backend at the message level: this sandbox's kernel has no
// WireGuard, so requests are checked byte by byte and against the netlink
// package's own decoder, and a small in-memory "kernel" answers with replies
// shaped like the real module's (array entries typed 0, NLA_F_NESTED set).
import t from 'tap';
import os from 'node:os';
import { AttrStream, FlagsNew, rt, wg } from 'netlink';
import { Rtnl, linkKind, type RtnlSocket } from '../rtnl/rtnl.js';
import { generatePresharedKey, generatePrivateKey, keyBytes, keyFromBytes, publicKeyBytesOf, publicKeyOf } from './keys.js';
import { KernelBackend, type WgGenlSocket } from './kernel.js';
import { NLA_F_NESTED, decodeDevice, encodeGetDevice, encodeSetDevice, encodeSockaddr } from './genl.js';

const LE = os.endianness() === 'LE';

/** One netlink attribute, padded, built independently of the code under test. */
function attr(type: number, data: Buffer, nested = false): Buffer {
  const len = 4 + data.length;
  const h = Buffer.alloc(4);
  const ty = type | (nested ? NLA_F_NESTED : 0);
  if (LE) { h.writeUInt16LE(len, 0); h.writeUInt16LE(ty, 2); } else { h.writeUInt16BE(len, 0); h.writeUInt16BE(ty, 2); }
  return Buffer.concat([h, data, Buffer.alloc((4 - (len % 4)) % 4)]);
}
const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); if (LE) b.writeUInt16LE(v); else b.writeUInt16BE(v); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); if (LE) b.writeUInt32LE(v); else b.writeUInt32BE(v); return b; };
const u64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); if (LE) b.writeBigUInt64LE(v); else b.writeBigUInt64BE(v); return b; };
const str = (s: string): Buffer => Buffer.from(`${s}\0`);

/** Every attribute of a payload as [path, type with flags], nested ones walked by the layout of linux/wireguard.h. */
function walk(buf: Buffer, path = '', depth = 0, out: [string, number][] = []): [string, number][] {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
    const type = LE ? buf.readUInt16LE(off + 2) : buf.readUInt16BE(off + 2);
    const p = `${path}/${type & 0x3fff}`;
    out.push([p, type]);
    const inner = buf.subarray(off + 4, off + len);
    // device attr 8 = peers; within: entries; within entries: attr 9 = allowed IPs; within: entries.
    const container = (depth === 0 && (type & 0x3fff) === 8) || depth === 1 || (depth === 2 && (type & 0x3fff) === 9) || depth === 3;
    if (container) walk(inner, p, depth + 1, out);
    off += (len + 3) & ~3;
  }
  return out;
}

const privKey = generatePrivateKey();
const peerA = publicKeyOf(generatePrivateKey());
const peerB = publicKeyOf(generatePrivateKey());

t.test('SET_DEVICE: exact bytes of a small request', { skip: !LE && 'byte layout checked on little-endian hosts' }, async (t) => {
  const [msg, ...more] = encodeSetDevice('tn0', { listenPort: 51820, fwmark: 0x10, peers: [] });
  t.equal(more.length, 0);
  const want = Buffer.concat([attr(2, str('tn0')), attr(6, u16(51820)), attr(7, u32(0x10))]);
  t.equal(msg!.toString('hex'), want.toString('hex'));
  t.equal(encodeGetDevice('tn0').toString('hex'), attr(2, str('tn0')).toString('hex'), 'GET_DEVICE names the interface only');
});

t.test('SET_DEVICE: netlink round trip and NLA_F_NESTED where the kernel demands it', async (t) => {
  const psk = generatePresharedKey();
  const [msg] = encodeSetDevice('tn0', {
    privateKey: privKey,
    peers: [
      { publicKey: peerA, remove: true },
      { publicKey: peerB, presharedKey: psk, endpoint: '[2001:db8::1]:51820', persistentKeepalive: 25, allowedIps: ['10.2.0.0/24', '2001:db8:2::/64'] },
    ],
  });
  const d = wg.parseDevice(msg!);
  t.equal(d.ifname, 'tn0');
  t.ok(d.privateKey?.equals(keyBytes(privKey)), 'private key attribute');
  t.equal(d.peers?.length, 2);
  t.ok(d.peers?.[0]?.publicKey?.equals(keyBytes(peerA)));
  t.same(d.peers?.[0]?.flags, { removeMe: true });
  const b = d.peers?.[1];
  t.same(b?.flags, { replaceAllowedIps: true });
  t.ok(b?.presharedKey?.equals(keyBytes(psk)));
  t.ok(b?.endpoint?.equals(encodeSockaddr('[2001:db8::1]:51820')));
  t.equal(b?.persistentKeepaliveInterval, 25);
  t.same(b?.allowedIps?.map((a) => [a.family, a.ipaddr?.toString('hex'), a.cidrMask]), [
    [2, '0a020000', 24], [10, '20010db8000200000000000000000000', 64],
  ]);

  const types = walk(msg!);
  const nested = types.filter(([, ty]) => ty & NLA_F_NESTED).map(([p]) => p);
  t.same(nested, ['/8', '/8/1', '/8/2', '/8/2/9', '/8/2/9/1', '/8/2/9/2'], `nested-flagged attributes: got ${nested}`);
  const plain = types.filter(([p, ty]) => !(ty & NLA_F_NESTED) && ['/2', '/3', '/8/1/1', '/8/2/4', '/8/2/9/1/2'].includes(p));
  t.equal(plain.length, 5, 'leaf attributes carry no nested flag');
});

t.test('sockaddr encoding', { skip: !LE && 'byte layout checked on little-endian hosts' }, async (t) => {
  t.equal(encodeSockaddr('192.0.2.1:51820').toString('hex'), `0200ca6cc0000201${'00'.repeat(8)}`);
  t.equal(encodeSockaddr('[2001:db8::1]:1').toString('hex'), `0a000001${'00'.repeat(4)}20010db8000000000000000000000001${'00'.repeat(4)}`);
});

t.test('SET_DEVICE: many peers are split into batches, device fields in the first', async (t) => {
  const peers = Array.from({ length: 300 }, (_, i) => ({
    publicKey: publicKeyOf(generatePrivateKey()),
    allowedIps: [`10.${i >> 8}.${i & 255}.0/24`, `10.200.${i >> 8}.${i & 255}/32`],
  }));
  const msgs = encodeSetDevice('tn0', { listenPort: 1, peers });
  t.ok(msgs.length > 1, `got ${msgs.length} messages; want several`);
  const parsed = msgs.map((m) => wg.parseDevice(m));
  t.equal(parsed[0]!.listenPort, 1);
  t.ok(parsed.slice(1).every((p) => p.listenPort === undefined), 'device fields only once');
  t.equal(parsed.reduce((n, p) => n + (p.peers?.length ?? 0), 0), 300, 'every peer once');
  t.ok(msgs.every((m) => m.length <= 40 * 1024), 'each message stays small');
});

// --- a kernel in memory -----------------------------------------------------

interface KPeer { psk: Buffer; endpoint: Buffer | null; keepalive: number; allowed: { family: number; ip: Buffer; cidr: number }[] }

/** Answers GET_DEVICE like the wireguard module and applies SET_DEVICE, refusing what strict validation refuses. */
class FakeKernelWg implements WgGenlSocket {
  privateKey: Buffer | null = null;
  listenPort = 0;
  fwmark = 0;
  peers = new Map<string, KPeer>();
  sets: Buffer[] = [];
  /** Answer in two replies, the first peer split between them (the kernel does this when a reply fills up). */
  split = false;

  async getDevice(request: Buffer): Promise<Buffer[]> {
    if (wg.parseDevice(request).ifname !== 'tn0') throw new Error('Request rejected: ENODEV');
    const head = [attr(1, u32(7)), attr(2, str('tn0'))];
    if (this.privateKey) head.push(attr(3, this.privateKey), attr(4, publicKeyBytesOf(this.privateKey)));
    head.push(attr(6, u16(this.listenPort)), attr(7, u32(this.fwmark)));
    const peer = (key: string, p: KPeer, allowed: KPeer['allowed'], full: boolean): Buffer => {
      const fields = [attr(1, Buffer.from(key, 'hex'))];
      if (full) {
        fields.push(attr(2, p.psk), attr(6, Buffer.concat([u64(1700000000n), u64(5000000n)])), attr(7, u64(11n)), attr(8, u64(22n)), attr(5, u16(p.keepalive)), attr(10, u32(1)));
        if (p.endpoint) fields.push(attr(4, p.endpoint));
      }
      const ips = allowed.map((a) => attr(0, Buffer.concat([attr(1, u16(a.family)), attr(2, a.ip), attr(3, Buffer.from([a.cidr]))]), true));
      fields.push(attr(9, Buffer.concat(ips), true));
      return attr(0, Buffer.concat(fields), true);
    };
    const first: Buffer[] = [];
    const second: Buffer[] = [];
    [...this.peers].forEach(([k, p], i) => {
      // As when the first reply fills up inside the first peer's allowed IPs: the
      // peer continues at the start of the second reply, the other peers follow it.
      if (this.split && i === 0 && p.allowed.length > 1) {
        first.push(peer(k, p, p.allowed.slice(0, 1), true));
        second.push(peer(k, p, p.allowed.slice(1), false));
      } else {
        (this.split && second.length > 0 ? second : first).push(peer(k, p, p.allowed, true));
      }
    });
    const out = [Buffer.concat([...head, attr(8, Buffer.concat(first), true)])];
    if (second.length > 0) out.push(Buffer.concat([attr(1, u32(7)), attr(2, str('tn0')), attr(8, Buffer.concat(second), true)]));
    return out;
  }

  async setDevice(request: Buffer): Promise<void> {
    for (const [p, ty] of walk(request)) {
      const mustNest = /^\/8(\/\d+(\/9(\/\d+)?)?)?$/.test(p);
      if (mustNest && !(ty & NLA_F_NESTED)) throw new Error('Request rejected: EINVAL');
    }
    this.sets.push(request);
    const d = wg.parseDevice(request);
    if (d.privateKey) this.privateKey = Buffer.from(d.privateKey);
    if (d.listenPort !== undefined) this.listenPort = d.listenPort;
    if (d.fwmark !== undefined) this.fwmark = d.fwmark;
    for (const p of d.peers ?? []) {
      const key = p.publicKey!.toString('hex');
      if (p.flags?.removeMe) { this.peers.delete(key); continue; }
      const cur = this.peers.get(key) ?? { psk: Buffer.alloc(32), endpoint: null, keepalive: 0, allowed: [] };
      if (p.presharedKey) cur.psk = Buffer.from(p.presharedKey);
      if (p.endpoint) cur.endpoint = Buffer.from(p.endpoint);
      if (p.persistentKeepaliveInterval !== undefined) cur.keepalive = p.persistentKeepaliveInterval;
      if (p.flags?.replaceAllowedIps) cur.allowed = [];
      for (const a of p.allowedIps ?? []) cur.allowed.push({ family: a.family!, ip: Buffer.from(a.ipaddr!), cidr: a.cidrMask! });
      this.peers.set(key, cur);
    }
  }

  close(): void {}
}

/** An rtnetlink socket that knows a few links and records what is asked. */
function fakeRtnl(links: { name: string; index: number; kind: string | null }[]) {
  const sent: { method: string; data: unknown; attrs: unknown; flags: number }[] = [];
  const msg = (l: { name: string; index: number; kind: string | null }): rt.LinkMessage => {
    const attrs: rt.LinkMessage['attrs'] = { ifname: l.name, mtu: 1420 };
    if (l.kind) {
      const s = new AttrStream();
      s.push(1, str(l.kind));
      attrs.linkinfo = Buffer.concat(s.bufs);
    }
    return { kind: 'link', data: { index: l.index, flags: {} }, attrs };
  };
  const rec = (method: string, answer: (data: rt.Link, attrs: Record<string, unknown>) => unknown[]) =>
    async (data: rt.Link, attrs: Record<string, unknown> = {}, opts?: { flags?: number }) => {
      sent.push({ method, data, attrs, flags: opts?.flags ?? 0 });
      return answer(data, attrs);
    };
  const sock = {
    getLinks: rec('getLinks', () => links.map(msg)),
    getLink: rec('getLink', (_d, a) => {
      const l = links.find((x) => x.name === a.ifname);
      if (!l) throw new Error('Request rejected: ENODEV');
      return [msg(l)];
    }),
    newLink: rec('newLink', () => []),
    delLink: rec('delLink', () => []),
    close: () => {},
  } as unknown as RtnlSocket;
  return { rtnl: new Rtnl({ socket: sock }), sent };
}

t.test('create sends RTM_NEWLINK kind wireguard with NLM_F_CREATE|NLM_F_EXCL', async (t) => {
  const { rtnl, sent } = fakeRtnl([{ name: 'lo', index: 1, kind: null }]);
  const b = new KernelBackend({ prefix: 'tn', rtnl, genl: new FakeKernelWg() });
  await b.create('tn0');
  const req = sent.find((s) => s.method === 'newLink');
  t.ok(req, 'got no RTM_NEWLINK; want one');
  t.equal(req!.flags, FlagsNew.CREATE | FlagsNew.EXCL);
  const out = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data: req!.data as rt.Link, attrs: req!.attrs as rt.LinkMessage['attrs'] }, out);
  const bytes = Buffer.concat(out.bufs);
  const back = rt.parseLinkMessage(bytes);
  t.equal(back.attrs.ifname, 'tn0');
  t.equal(linkKind(back.attrs.linkinfo), 'wireguard');
  if (LE) {
    // ifinfomsg (16 zero bytes), IFLA_IFNAME "tn0", IFLA_LINKINFO { IFLA_INFO_KIND "wireguard" }.
    // The message layer pads the tail to 4 bytes, so the last attribute ends unpadded here.
    const want = ['00'.repeat(16), '08000300', '746e3000', '1200', '1200', '0e00', '0100', Buffer.from('wireguard\0').toString('hex')].join('');
    t.equal(bytes.toString('hex'), want, 'RTM_NEWLINK payload bytes');
  }
  const taken = fakeRtnl([{ name: 'tn0', index: 5, kind: 'wireguard' }]);
  await t.rejects(new KernelBackend({ prefix: 'tn', rtnl: taken.rtnl, genl: new FakeKernelWg() }).create('tn0'), { code: 'TERN_E_KERNEL_WG_BACKEND' });
  t.equal(taken.sent.filter((s) => s.method === 'newLink').length, 0, 'nothing is created over an existing interface');
});

t.test('exists, list and destroy look at the link kind', async (t) => {
  const { rtnl, sent } = fakeRtnl([
    { name: 'lo', index: 1, kind: null }, { name: 'tn0', index: 5, kind: 'wireguard' }, { name: 'tn1', index: 6, kind: 'bridge' },
    { name: 'wg9', index: 7, kind: 'wireguard' },
  ]);
  const b = new KernelBackend({ prefix: 'tn', rtnl, genl: new FakeKernelWg() });
  t.same(await b.list(), ['tn0'], 'only wireguard links with the prefix');
  t.equal(await b.exists('tn0'), true);
  t.equal(await b.exists('tn1'), false, 'a bridge named like a tunnel is not one');
  t.equal(await b.exists('tn2'), false);
  await t.rejects(b.destroy('tn1'), { code: 'TERN_E_KERNEL_WG_BACKEND' }, 'refuses to delete a non-wireguard link');
  await b.destroy('tn2');
  await b.destroy('tn0');
  t.same(sent.filter((s) => s.method === 'delLink').map((s) => (s.data as rt.Link).index), [5], 'only tn0 is deleted');
});

t.test('configure through the in-memory kernel: minimal, idempotent, per peer', async (t) => {
  const kern = new FakeKernelWg();
  const { rtnl } = fakeRtnl([{ name: 'tn0', index: 7, kind: 'wireguard' }]);
  const b = new KernelBackend({ prefix: 'tn', rtnl, genl: kern });
  const psk = generatePresharedKey();
  const desired = {
    privateKey: privKey, listenPort: 51820, fwmark: 0x20,
    peers: [
      { publicKey: peerA, endpoint: '192.0.2.1:51820', allowedIps: ['10.2.0.0/24', '10.3.0.0/24'], persistentKeepalive: 25 },
      { publicKey: peerB, endpoint: '[2001:db8::2]:51820', allowedIps: ['2001:db8:2::/64'], presharedKey: psk },
    ],
  };
  const first = await b.configure('tn0', desired);
  t.same(first, { device: ['privateKey', 'listenPort', 'fwmark'], added: [peerA, peerB], updated: [], removed: [], requests: 1 });
  kern.split = true;
  const state = await b.get('tn0');
  t.same(state, {
    ifname: 'tn0', hasPrivateKey: true, publicKey: publicKeyOf(privKey), listenPort: 51820, fwmark: 0x20,
    peers: [
      { publicKey: peerA, endpoint: '192.0.2.1:51820', allowedIps: ['10.2.0.0/24', '10.3.0.0/24'], persistentKeepalive: 25, lastHandshakeMs: 1700000000005, rxBytes: 11, txBytes: 22, hasPresharedKey: false },
      { publicKey: peerB, endpoint: '[2001:db8::2]:51820', allowedIps: ['2001:db8:2::/64'], persistentKeepalive: 0, lastHandshakeMs: 1700000000005, rxBytes: 11, txBytes: 22, hasPresharedKey: true },
    ],
  }, 'a dump split over two replies reads as one device');
  t.notMatch(JSON.stringify(state), privKey, 'get() never returns the private key');

  const setsBefore = kern.sets.length;
  const again = await b.configure('tn0', desired);
  t.equal(again.requests, 0, `second configure: got ${again.requests} requests; want 0`);
  t.equal(kern.sets.length, setsBefore, 'no SET_DEVICE the second time');

  const changed = { ...desired, peers: [desired.peers[0]!, { ...desired.peers[1]!, allowedIps: ['2001:db8:2::/64', '2001:db8:3::/64'] }] };
  const one = await b.configure('tn0', changed);
  t.same(one, { device: [], added: [], updated: [peerB], removed: [], requests: 1 });
  const last = wg.parseDevice(kern.sets[kern.sets.length - 1]!);
  t.equal(last.peers?.length, 1, 'the request names one peer');
  t.equal(last.peers?.[0]?.publicKey && keyFromBytes(last.peers[0].publicKey), peerB);
  t.same(last.peers?.[0]?.flags, { replaceAllowedIps: true });
  t.equal(last.privateKey, undefined, 'the private key is not resent');
  t.equal((await b.configure('tn0', changed)).requests, 0);
});

t.test('decodeDevice reads kernel replies and refuses malformed ones', async (t) => {
  const key = Buffer.alloc(32, 9);
  const peerEntry = (type: number) => attr(type, Buffer.concat([attr(1, key), attr(9, Buffer.alloc(0), true)]), true);
  const zeroTyped = Buffer.concat([attr(2, str('tn0')), attr(8, peerEntry(0), true)]);
  const oneTyped = Buffer.concat([attr(2, str('tn0')), attr(8, peerEntry(1), true)]);
  t.same(decodeDevice('tn0', [zeroTyped]).peers.map((p) => p.publicKey), [keyFromBytes(key)], 'entries typed 0 (kernel)');
  t.same(decodeDevice('tn0', [oneTyped]).peers.map((p) => p.publicKey), [keyFromBytes(key)], 'entries typed 1 (netlink package)');
  t.throws(() => decodeDevice('tn0', [Buffer.from([0xff, 0x00, 0x02, 0x00])]), { code: 'TERN_E_KERNEL_NETLINK', message: /malformed GET_DEVICE reply/ });
  t.throws(() => decodeDevice('tn0', [attr(8, attr(0, attr(1, Buffer.alloc(5)), true), true)]), { code: 'TERN_E_KERNEL_NETLINK', message: /without a 32-byte public key/ });
  t.throws(() => decodeDevice('tn0', [attr(2, str('tn9'))]), { code: 'TERN_E_KERNEL_NETLINK', message: /names interface "tn9"/ });
  const odd = attr(8, attr(0, Buffer.concat([attr(1, key), attr(4, Buffer.from([7, 0])), attr(9, attr(0, Buffer.concat([attr(1, u16(2)), attr(2, Buffer.from([1, 2])), attr(3, Buffer.from([24]))]), true), true)]), true), true);
  const p = decodeDevice('tn0', [odd]).peers[0]!;
  t.equal(p.endpoint, null, 'an unknown sockaddr family reads as no endpoint');
  t.same(p.allowedIps, [], 'an allowed IP of the wrong length is skipped');
});

t.test('genetlink failures name the operation and errno', async (t) => {
  const genl: WgGenlSocket = {
    getDevice: async () => { throw new Error('Request rejected: ENODEV'); },
    setDevice: async () => {},
    close: () => {},
  };
  const { rtnl } = fakeRtnl([]);
  await t.rejects(new KernelBackend({ prefix: 'tn', rtnl, genl }).get('tn0'), {
    code: 'TERN_E_KERNEL_NETLINK', message: 'wireguard: get tn0: ENODEV: no such interface tn0',
  });
});
