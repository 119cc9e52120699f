import t from 'tap';
import {
  decode, discardReasons, encode, sendForm, type Advertisement, type ChecksumForm, type ChecksumMode, type DecodeOptions,
} from './packet.js';
import { parseIpv4 } from './ipv4.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// The test's own one's-complement arithmetic, written out apart from the
// codec's, so fixtures are checked by an independent computation.
function wordSum(...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) + (i + 1 < all.length ? all[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const ip4 = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
const pseudo4 = (src: string, dst: string, len: number): Buffer =>
  Buffer.concat([ip4(src), ip4(dst), Buffer.from([0, 112, len >> 8, len & 0xff])]);
// Rewrites bytes 6-7 so the packet checks under the given pseudo-header (empty: message only).
function fixChecksum(pkt: Buffer, pseudo: Buffer = Buffer.alloc(0)): Buffer {
  const p = Buffer.from(pkt);
  p.writeUInt16BE(0, 6);
  p.writeUInt16BE(0xffff - wordSum(pseudo, p), 6);
  return p;
}

// keepalived 2.2.7 (Debian 12), `vrrp_version 3`, virtual_router_id 51,
// priority 150, advert_int 0.1, one VIP 192.168.10.1, box 192.168.10.2,
// multicast. The IP header is keepalived's own (IP_HDRINCL): TOS 0xc0, id 1,
// no DF, TTL 255, protocol 112; the kernel fills the header checksum (0x0ff0).
// VRRP: 0x31 = v3 type 1, 0x33 = VRID 51, 0x96 = 150, 1 address,
// 0x000a = 10 cs, checksum 0xc2dd over the pseudo-header
// (192.168.10.2, 224.0.0.18, 0, 112, 12) + message. tcpdump 4.99 -vv
// accepts both checksums of this datagram.
const keepalivedDatagram = hex(`
  45 c0 00 20  00 01 00 00  ff 70 0f f0  c0 a8 0a 02  e0 00 00 12
  31 33 96 01  00 0a c2 dd  c0 a8 0a 01`);
const keepalivedAdvert = keepalivedDatagram.subarray(20);
const kaAdvert: Advertisement = { vrid: 51, priority: 150, intervalMs: 100, addresses: ['192.168.10.1'] };

// The same advert as RFC 9568 5.2.8 has it for IPv4: message only, 0x6e17.
const rfc9568Advert = hex('31 33 96 01 00 0a 6e 17 c0 a8 0a 01');

// A real keepalived advert logged on the wire in keepalived issue #1175
// (2.0.12, unicast from 10.1.0.3 to 10.1.0.1, VRID 88, priority 198,
// advert_int 1, VIP 10.195.76.227); the log shows the checksum little-endian
// as 0x199c.
const capturedDatagram = hex(`
  45 c0 00 20  00 01 00 00  ff 70 00 00  0a 01 00 03  0a 01 00 01
  31 58 c6 01  00 64 9c 19  0a c3 4c e3`);

// IPv6: VRID 51, priority 150, 10 cs, fe80::1 then 2001:db8::1, from
// fe80::2 to ff02::12; 0x0e54 over the RFC 8200 pseudo-header (length 40,
// next header 112), worked out by hand apart from the codec.
const v6Advert = hex(`
  31 33 96 02  00 0a 0e 54
  fe 80 00 00 00 00 00 00  00 00 00 00 00 00 00 01
  20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 01`);

const base = (over: Partial<DecodeOptions> = {}): DecodeOptions =>
  ({ src: '192.168.10.2', dst: '224.0.0.18', ttl: 255, mode: 'keepalived', ...over });

t.test('fixture arithmetic holds on its own', async (t) => {
  t.equal(wordSum(keepalivedDatagram.subarray(0, 20)), 0xffff, 'IPv4 header of the keepalived datagram sums to 0xffff');
  t.equal(wordSum(pseudo4('192.168.10.2', '224.0.0.18', 12), keepalivedAdvert), 0xffff, 'keepalived advert with pseudo-header');
  t.equal(wordSum(rfc9568Advert), 0xffff, 'RFC 9568 advert, message only');
  t.equal(wordSum(pseudo4('10.1.0.3', '10.1.0.1', 12), capturedDatagram.subarray(20)), 0xffff, 'captured advert with pseudo-header');
  const v6Pseudo = Buffer.concat([hex('fe80 0000 0000 0000 0000 0000 0000 0002'), hex('ff02 0000 0000 0000 0000 0000 0000 0012'), hex('0000 0028 0000 0070')]);
  t.equal(wordSum(v6Pseudo, v6Advert), 0xffff, 'IPv6 advert with RFC 8200 pseudo-header');
});

t.test('keepalived 2.2.7 advert decodes from the raw datagram', async (t) => {
  const ip = parseIpv4(keepalivedDatagram);
  if (!ip.ok) return t.fail(`got ${ip.detail}; want a datagram`);
  t.same([ip.src, ip.dst, ip.ttl, ip.protocol], ['192.168.10.2', '224.0.0.18', 255, 112]);
  const got = decode(ip.payload, { src: ip.src, dst: ip.dst, ttl: ip.ttl, mode: 'keepalived', expectedVrid: 51 });
  t.same(got, { ok: true, advert: kaAdvert, family: 4, checksumForm: 'pseudo-header' });
});

t.test('encode reproduces the fixtures byte for byte', async (t) => {
  const cases: { name: string; adv: Advertisement; src: string; dst: string; mode: ChecksumMode; want: Buffer }[] = [
    { name: 'keepalived multicast', adv: kaAdvert, src: '192.168.10.2', dst: '224.0.0.18', mode: 'keepalived', want: keepalivedAdvert },
    { name: 'rfc9568 multicast', adv: kaAdvert, src: '192.168.10.2', dst: '224.0.0.18', mode: 'rfc9568', want: rfc9568Advert },
    { name: 'rfc9568 unicast is the same bytes', adv: kaAdvert, src: '192.168.10.2', dst: '192.168.10.3', mode: 'rfc9568', want: rfc9568Advert },
    { name: 'keepalived unicast uses the peer in the pseudo-header', adv: kaAdvert, src: '192.168.10.2', dst: '192.168.10.3', mode: 'keepalived', want: hex('31 33 96 01 00 0a d8 44 c0 a8 0a 01') },
    { name: 'captured keepalived unicast', adv: { vrid: 88, priority: 198, intervalMs: 1000, addresses: ['10.195.76.227'] }, src: '10.1.0.3', dst: '10.1.0.1', mode: 'keepalived', want: capturedDatagram.subarray(20) },
    { name: 'IPv6 (either mode)', adv: { vrid: 51, priority: 150, intervalMs: 100, addresses: ['fe80::1', '2001:db8::1'] }, src: 'fe80::2', dst: 'ff02::12', mode: 'rfc9568', want: v6Advert },
  ];
  for (const c of cases) {
    const got = toHex(encode(c.adv, { src: c.src, dst: c.dst, mode: c.mode }));
    t.equal(got, toHex(c.want), `${c.name}: got ${got}; want ${toHex(c.want)}`);
  }
  const forced = toHex(encode(kaAdvert, { src: '192.168.10.2', dst: '192.168.10.3', mode: 'keepalived', form: 'pseudo-header-group' }));
  t.equal(forced, toHex(keepalivedAdvert), `forced group form: got ${forced}; want the multicast bytes`);
});

t.test('checksum modes: what each accepts and the hint when it does not', async (t) => {
  const cases: { name: string; bytes: Buffer; opts: DecodeOptions; want: ChecksumForm | { hint: ChecksumForm | undefined } }[] = [
    { name: 'keepalived accepts keepalived', bytes: keepalivedAdvert, opts: base(), want: 'pseudo-header' },
    { name: 'rfc9568 refuses keepalived, names it', bytes: keepalivedAdvert, opts: base({ mode: 'rfc9568' }), want: { hint: 'pseudo-header' } },
    { name: 'rfc9568 accepts rfc9568', bytes: rfc9568Advert, opts: base({ mode: 'rfc9568' }), want: 'message' },
    { name: 'keepalived refuses rfc9568, names it', bytes: rfc9568Advert, opts: base(), want: { hint: 'message' } },
    { name: 'keepalived accepts unicast with the peer', bytes: hex('31 33 96 01 00 0a d8 44 c0 a8 0a 01'), opts: base({ dst: '192.168.10.3' }), want: 'pseudo-header' },
    { name: 'keepalived accepts unicast with the group (old_unicast_checksum)', bytes: keepalivedAdvert, opts: base({ dst: '192.168.10.3' }), want: 'pseudo-header-group' },
    { name: 'rfc9568 refuses unicast group form, names it', bytes: keepalivedAdvert, opts: base({ dst: '192.168.10.3', mode: 'rfc9568' }), want: { hint: 'pseudo-header-group' } },
    { name: 'rfc9568 accepts rfc9568 unicast', bytes: rfc9568Advert, opts: base({ dst: '192.168.10.3', mode: 'rfc9568' }), want: 'message' },
    { name: 'keepalived multicast refuses garbage, no hint', bytes: hex('31 33 96 01 00 0a 12 34 c0 a8 0a 01'), opts: base(), want: { hint: undefined } },
    { name: 'IPv6 keepalived', bytes: v6Advert, opts: base({ src: 'fe80::2', dst: 'ff02::12' }), want: 'pseudo-header' },
    { name: 'IPv6 rfc9568', bytes: v6Advert, opts: base({ src: 'fe80::2', dst: 'ff02::12', mode: 'rfc9568' }), want: 'pseudo-header' },
  ];
  for (const c of cases) {
    const got = decode(c.bytes, c.opts);
    if (typeof c.want === 'string') {
      t.ok(got.ok && got.checksumForm === c.want, `${c.name}: got ${JSON.stringify(got)}; want accepted as ${c.want}`);
    } else {
      t.ok(!got.ok && got.reason === 'checksum' && got.checksumHint === c.want.hint,
        `${c.name}: got ${JSON.stringify(got)}; want checksum discard with hint ${c.want.hint}`);
    }
  }
  t.equal(sendForm('rfc9568', 4), 'message');
  t.equal(sendForm('keepalived', 4), 'pseudo-header');
  t.equal(sendForm('rfc9568', 6), 'pseudo-header');
});

t.test('the captured keepalived datagram decodes', async (t) => {
  const ip = parseIpv4(capturedDatagram);
  if (!ip.ok) return t.fail(ip.detail);
  const got = decode(ip.payload, { src: ip.src, dst: ip.dst, ttl: ip.ttl, mode: 'keepalived' });
  t.same(got, { ok: true, family: 4, checksumForm: 'pseudo-header', advert: { vrid: 88, priority: 198, intervalMs: 1000, addresses: ['10.195.76.227'] } });
});

t.test('round trips', async (t) => {
  const cases: { adv: Advertisement; src: string; dst: string }[] = [
    { adv: kaAdvert, src: '192.168.10.2', dst: '224.0.0.18' },
    { adv: { vrid: 1, priority: 0, intervalMs: 10, addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] }, src: '10.0.0.9', dst: '224.0.0.18' },
    { adv: { vrid: 255, priority: 255, intervalMs: 40950, addresses: ['198.51.100.1'] }, src: '198.51.100.2', dst: '198.51.100.3' },
    { adv: { vrid: 7, priority: 100, intervalMs: 1000, addresses: Array.from({ length: 20 }, (_, i) => `10.1.${i}.1`) }, src: '10.9.9.9', dst: '224.0.0.18' },
    { adv: { vrid: 9, priority: 254, intervalMs: 200, addresses: ['fe80::1'] }, src: 'fe80::a', dst: 'ff02::12' },
    { adv: { vrid: 9, priority: 1, intervalMs: 200, addresses: ['fe80::1', '2001:db8:1::1', '2001:db8:2::1'] }, src: 'fe80::a', dst: 'fe80::b' },
  ];
  for (const c of cases) {
    for (const mode of ['rfc9568', 'keepalived'] as const) {
      const bytes = encode(c.adv, { src: c.src, dst: c.dst, mode });
      const got = decode(bytes, { src: c.src, dst: c.dst, ttl: 255, mode, expectedVrid: c.adv.vrid, expectedAddresses: c.adv.addresses });
      t.same(got.ok ? { ...got.advert, match: got.addressesMatch } : got, { ...c.adv, match: true },
        `${mode} ${c.src}->${c.dst} vrid ${c.adv.vrid}: got ${JSON.stringify(got)}`);
    }
  }
});

t.test('addressesMatch flags a different VIP set without discarding', async (t) => {
  const cases: { expected: string[]; want: boolean }[] = [
    { expected: ['192.168.10.1'], want: true },
    { expected: ['192.168.010.1'.replace('010', '10')], want: true },
    { expected: ['192.168.10.9'], want: false },
    { expected: ['192.168.10.1', '192.168.10.9'], want: false },
    { expected: [], want: false },
  ];
  for (const c of cases) {
    const got = decode(keepalivedAdvert, base({ expectedAddresses: c.expected }));
    t.ok(got.ok && got.addressesMatch === c.want, `expected ${c.expected}: got ${JSON.stringify(got)}; want addressesMatch ${c.want}`);
  }
});

t.test('each receive rule discards with its reason', async (t) => {
  const v4 = keepalivedAdvert;
  const pkt = (mut: (b: Buffer) => Buffer | void, fix = true): Buffer => {
    const b = Buffer.from(v4);
    const r = mut(b) ?? b;
    return fix ? fixChecksum(r, pseudo4('192.168.10.2', '224.0.0.18', r.length)) : r;
  };
  // A VRRPv2 advert (RFC 3768) for the same router: auth type 0, 1 s, 8 bytes of auth data.
  const v2 = fixChecksum(hex('21 33 96 01 00 01 00 00 c0 a8 0a 01 00 00 00 00 00 00 00 00'));
  const v6Global = Buffer.from(v6Advert);
  v6Global.set(hex('2001 0db8 0000 0000 0000 0000 0000 0009'), 8);
  const cases: { name: string; bytes: Uint8Array; opts?: Partial<DecodeOptions>; want: string }[] = [
    { name: 'TTL 254', bytes: v4, opts: { ttl: 254 }, want: 'ttl' },
    { name: 'TTL 1 (routed)', bytes: v4, opts: { ttl: 1 }, want: 'ttl' },
    { name: 'hop limit 64', bytes: v6Advert, opts: { src: 'fe80::2', dst: 'ff02::12', ttl: 64 }, want: 'ttl' },
    { name: 'VRRPv2 advert', bytes: v2, want: 'version' },
    { name: 'version 4', bytes: pkt((b) => { b[0] = 0x41; }), want: 'version' },
    { name: 'version 0', bytes: hex('01'), want: 'version' },
    { name: 'type 2', bytes: pkt((b) => { b[0] = 0x32; }), want: 'type' },
    { name: 'type 0', bytes: pkt((b) => { b[0] = 0x30; }), want: 'type' },
    { name: 'empty', bytes: Buffer.alloc(0), want: 'truncated' },
    { name: 'header cut at 5', bytes: v4.subarray(0, 5), want: 'truncated' },
    { name: 'count 2, one address', bytes: pkt((b) => { b[3] = 2; }, false), want: 'truncated' },
    { name: 'IPv6 advert read as IPv4 is too long', bytes: v6Advert, want: 'trailing' },
    { name: 'one byte too many', bytes: pkt((b) => Buffer.concat([b, hex('00')])), want: 'trailing' },
    { name: 'v3 header with v2 auth data', bytes: pkt((b) => Buffer.concat([b, Buffer.alloc(8)])), want: 'trailing' },
    { name: 'address bit flipped', bytes: pkt((b) => { b[11] ^= 1; }, false), want: 'checksum' },
    { name: 'priority changed, checksum not', bytes: pkt((b) => { b[2] = 151; }, false), want: 'checksum' },
    { name: 'count 0', bytes: pkt((b) => { b[3] = 0; return b.subarray(0, 8); }), want: 'count' },
    { name: 'other VRID', bytes: v4, opts: { expectedVrid: 52 }, want: 'vrid' },
    { name: 'VRID 0', bytes: pkt((b) => { b[1] = 0; }), want: 'vrid' },
    { name: 'interval 0', bytes: pkt((b) => { b[4] = 0; b[5] = 0; }), want: 'interval' },
    { name: 'interval 0 with reserved bits set', bytes: pkt((b) => { b[4] = 0xf0; b[5] = 0; }), want: 'interval' },
    { name: 'IPv6 first address global', bytes: fixChecksum(v6Global, Buffer.concat([hex('fe80 0000 0000 0000 0000 0000 0000 0002'), hex('ff02 0000 0000 0000 0000 0000 0000 0012'), hex('0000 0028 0000 0070')])), opts: { src: 'fe80::2', dst: 'ff02::12' }, want: 'address' },
    { name: 'source multicast', bytes: fixChecksum(Buffer.from(v4), pseudo4('224.0.0.5', '224.0.0.18', 12)), opts: { src: '224.0.0.5' }, want: 'source' },
    { name: 'source 0.0.0.0', bytes: fixChecksum(Buffer.from(v4), pseudo4('0.0.0.0', '224.0.0.18', 12)), opts: { src: '0.0.0.0' }, want: 'source' },
    { name: 'source not an address', bytes: v4, opts: { src: 'box-a' }, want: 'source' },
    { name: 'source IPv6, destination IPv4', bytes: v4, opts: { src: 'fe80::2' }, want: 'source' },
    { name: 'our own advert looped back', bytes: v4, opts: { localAddresses: ['192.168.10.2'] }, want: 'source' },
    { name: 'not a unicast peer', bytes: v4, opts: { peers: ['192.168.10.7'] }, want: 'source' },
    { name: 'destination not an address', bytes: v4, opts: { dst: '' }, want: 'destination' },
  ];
  for (const c of cases) {
    const got = decode(c.bytes, base(c.opts));
    t.ok(!got.ok && got.reason === c.want && got.detail.length > 0, `${c.name}: got ${JSON.stringify(got)}; want discard '${c.want}'`);
  }
  t.ok(decode(v4, base({ peers: ['192.168.10.7', '192.168.10.2'] })).ok, 'a listed unicast peer is accepted');
  const reserved = decode(pkt((b) => { b[4] |= 0xa0; }), base());
  t.ok(reserved.ok && reserved.advert.intervalMs === 100, `reserved bits set: got ${JSON.stringify(reserved)}; want ignored (5.2.6)`);
  // A global IPv6 source with a correct checksum for it: the link-local rule, not the checksum, rejects it.
  const fromGlobal = fixChecksum(Buffer.from(v6Advert), Buffer.concat([hex('2001 0db8 0000 0000 0000 0000 0000 0002'), hex('ff02 0000 0000 0000 0000 0000 0000 0012'), hex('0000 0028 0000 0070')]));
  const g = decode(fromGlobal, base({ src: '2001:db8::2', dst: 'ff02::12' }));
  t.ok(!g.ok && g.reason === 'source', `IPv6 multicast from a global source: got ${JSON.stringify(g)}; want 'source'`);
});

t.test('encode refuses fields out of range', async (t) => {
  const opts = { src: '192.168.10.2', dst: '224.0.0.18', mode: 'rfc9568' as const };
  const cases: { name: string; adv: Partial<Advertisement>; opts?: Partial<typeof opts> }[] = [
    { name: 'vrid 0', adv: { vrid: 0 } },
    { name: 'vrid 256', adv: { vrid: 256 } },
    { name: 'priority -1', adv: { priority: -1 } },
    { name: 'priority 1.5', adv: { priority: 1.5 } },
    { name: 'interval 5 ms', adv: { intervalMs: 5 } },
    { name: 'interval 15 ms', adv: { intervalMs: 15 } },
    { name: 'interval 40960 ms', adv: { intervalMs: 40960 } },
    { name: 'no addresses', adv: { addresses: [] } },
    { name: 'IPv6 VIP on IPv4', adv: { addresses: ['2001:db8::1'] } },
    { name: 'bad VIP', adv: { addresses: ['192.168.10'] } },
    { name: 'IPv6 without link-local first', adv: { addresses: ['2001:db8::1'] }, opts: { src: 'fe80::1', dst: 'ff02::12' } },
    { name: 'bad source', adv: {}, opts: { src: 'x' } },
    { name: 'destination of the other family', adv: {}, opts: { dst: 'ff02::12' } },
  ];
  for (const c of cases) {
    t.throws(() => encode({ ...kaAdvert, ...c.adv } as Advertisement, { ...opts, ...c.opts }),
      { name: 'TernError', code: 'TERN_E_PAIRD_ARG' }, `${c.name}: want TERN_E_PAIRD_ARG`);
  }
});

t.test('parseIpv4 refuses what is not an IPv4 datagram', async (t) => {
  const cases: { name: string; bytes: Buffer }[] = [
    { name: 'short', bytes: keepalivedDatagram.subarray(0, 19) },
    { name: 'IPv6', bytes: Buffer.concat([hex('60'), keepalivedDatagram.subarray(1)]) },
    { name: 'IHL 4', bytes: Buffer.concat([hex('44'), keepalivedDatagram.subarray(1)]) },
    { name: 'IHL past the end', bytes: Buffer.concat([hex('4f'), keepalivedDatagram.subarray(1)]) },
    { name: 'total length below header', bytes: Buffer.concat([keepalivedDatagram.subarray(0, 2), hex('0010'), keepalivedDatagram.subarray(4)]) },
  ];
  for (const c of cases) {
    const got = parseIpv4(c.bytes);
    t.notOk(got.ok, `${c.name}: got ${JSON.stringify(got)}; want malformed`);
  }
  const short = parseIpv4(Buffer.concat([keepalivedDatagram.subarray(0, 2), hex('0040'), keepalivedDatagram.subarray(4)]));
  t.ok(short.ok && short.payload.length === 12, 'total length past the end: payload is what arrived');
});

// mulberry32: small, seeded, good enough to spread inputs.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fuzz: 120 000 random and mutated inputs never throw and end in a defined outcome', async (t) => {
  const rand = prng(0x7e2a);
  const int = (n: number): number => Math.floor(rand() * n);
  const seeds: { bytes: Buffer; src: string; dst: string }[] = [
    { bytes: keepalivedAdvert, src: '192.168.10.2', dst: '224.0.0.18' },
    { bytes: rfc9568Advert, src: '192.168.10.2', dst: '224.0.0.18' },
    { bytes: capturedDatagram.subarray(20), src: '10.1.0.3', dst: '10.1.0.1' },
    { bytes: v6Advert, src: 'fe80::2', dst: 'ff02::12' },
  ];
  const reasons = new Map<string, number>();
  let accepted = 0;
  let roundTripFailures = 0;
  const n = 120_000;
  for (let i = 0; i < n; i++) {
    const seed = seeds[int(seeds.length)]!;
    let bytes: Buffer;
    if (rand() < 0.25) {
      bytes = Buffer.from(Array.from({ length: int(72) }, () => int(256)));
      if (rand() < 0.5 && bytes.length > 0) bytes[0] = 0x31;
    } else {
      bytes = Buffer.from(seed.bytes);
      const edits = 1 + int(3);
      for (let e = 0; e < edits; e++) {
        const r = rand();
        if (r < 0.5 && bytes.length > 0) bytes[int(bytes.length)] ^= 1 << int(8);
        else if (r < 0.65) bytes = bytes.subarray(0, int(bytes.length + 1));
        else if (r < 0.8) bytes = Buffer.concat([bytes, Buffer.from([int(256)])]);
        else if (r < 0.9 && bytes.length > 4) bytes[1 + int(4)] = int(256);
        else if (bytes.length > 5) bytes[3 + int(3)] = 0; // count, interval: the zero rules
      }
      // Half the time make the checksum right, so the rules after it are reached.
      if (rand() < 0.5 && bytes.length >= 8 && seed.src.includes('.')) {
        bytes = fixChecksum(bytes, rand() < 0.5 ? pseudo4(seed.src, seed.dst, bytes.length) : Buffer.alloc(0));
      }
    }
    const mode: ChecksumMode = rand() < 0.5 ? 'rfc9568' : 'keepalived';
    const opts: DecodeOptions = { src: seed.src, dst: seed.dst, ttl: rand() < 0.95 ? 255 : int(256), mode };
    if (rand() < 0.3) opts.expectedVrid = 1 + int(255);
    let got;
    try {
      got = decode(bytes, opts);
    } catch (err) {
      t.fail(`input ${bytes.toString('hex')} ${JSON.stringify(opts)}: got throw ${String(err)}; want a result`);
      return;
    }
    if (got.ok) {
      accepted++;
      const again = encode(got.advert, { src: opts.src, dst: opts.dst, mode, form: got.checksumForm });
      const masked = Buffer.from(bytes);
      masked[4] = masked[4]! & 0x0f; // reserved bits: ignored on receipt, zero on send
      if (!again.equals(masked)) {
        // Setting reserved bits changes the checksum the sender computed; only then may bytes differ.
        if ((bytes[4]! & 0xf0) === 0) roundTripFailures++;
      }
    } else {
      if (!discardReasons.includes(got.reason) || typeof got.detail !== 'string' || got.detail === '') {
        t.fail(`input ${bytes.toString('hex')}: got ${JSON.stringify(got)}; want a defined reason with detail`);
        return;
      }
      reasons.set(got.reason, (reasons.get(got.reason) ?? 0) + 1);
    }
  }
  t.equal(roundTripFailures, 0, `got ${roundTripFailures} accepted inputs that re-encode differently; want 0`);
  t.ok(accepted > 1000, `got ${accepted} accepted inputs; want over 1000 so the fuzz reaches the end of decode`);
  for (const r of ['ttl', 'version', 'type', 'truncated', 'trailing', 'checksum', 'count', 'vrid', 'interval', 'address']) {
    t.ok((reasons.get(r) ?? 0) > 0, `reason ${r}: got ${reasons.get(r) ?? 0} hits; want some`);
  }
});
