import t from 'tap';
import {
  addressFromBytes, addressToBytes, formatAddress, formatAddressBytes, formatPrefix, ipv4MappedBytes, hostPrefix, isHostPrefix, parseAddress, parsePrefix, prefixContains, prefixesOverlap,
  type IpPrefix,
} from './index.js';

// JSON for messages; addresses hold bigints, which JSON.stringify refuses.
const js = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

const pfx = (text: string): IpPrefix => {
  const p = parsePrefix(text, 'allow');
  if (!p.ok) throw new Error(`test setup: ${text}: ${p.reason}`);
  return p.value;
};

t.test('parseAddress accepts addresses and prints them canonically', async (t) => {
  const cases: Array<[string, 4 | 6, string]> = [
    ['192.0.2.1', 4, '192.0.2.1'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['2001:db8::1', 6, '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', 6, '2001:db8::1'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['fe80::', 6, 'fe80::'],
    ['2001:db8:0:1:0:0:0:1', 6, '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['2001:db8:1:2:3:4:5:0', 6, '2001:db8:1:2:3:4:5:0'],
    ['::ffff:192.0.2.1', 6, '::ffff:c000:201'],
    ['1:2:3:4:5:6::8', 6, '1:2:3:4:5:6:0:8'],
  ];
  for (const [text, family, canonical] of cases) {
    const a = parseAddress(text);
    if (!a.ok) { t.fail(`${text}: got error ${a.reason}; want an address`); continue; }
    t.equal(a.value.family, family, `${text}: got family ${a.value.family}; want ${family}`);
    t.equal(formatAddress(a.value), canonical, `${text}: got ${formatAddress(a.value)}; want ${canonical}`);
  }
});

t.test('parseAddress rejects malformed text with a reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['192.0.2', /four numbers/],
    ['192.0.2.256', /256 is over 255/],
    ['192.0.2.01', /leading zero/],
    ['192.0.2.x', /not a number/],
    ['1::2::3', /only once/],
    ['1:2:3:4:5:6:7:8:9', /8 groups/],
    ['1:2:3:4:5:6:7::8', /too many groups/],
    ['2001:db8::g', /hex/],
    ['fe80::1%eth0', /zone/],
    ['1.2.3.4::', /hex/],
    ['vpn.example.net', /not an IPv4 or IPv6/],
    ['', /not an IPv4 or IPv6/],
  ];
  for (const [text, reason] of cases) {
    const a = parseAddress(text);
    if (a.ok) { t.fail(`${JSON.stringify(text)}: got an address; want an error matching ${reason}`); continue; }
    t.match(a.reason, reason, `${JSON.stringify(text)}: got reason ${a.reason}; want ${reason}`);
  }
});

t.test('parsePrefix: network prefixes reject host bits, interface addresses keep them', async (t) => {
  const net = parsePrefix('10.1.0.0/24');
  t.ok(net.ok && net.value.length === 24, `got ${js(net)}; want 10.1.0.0/24`);
  const host = parsePrefix('10.1.0.2/24');
  t.same(host, { ok: false, reason: 'host bits set; did you mean 10.1.0.0/24?' }, `got ${js(host)}; want host bits error`);
  const v6host = parsePrefix('2001:db8:1::5/48');
  t.same(v6host, { ok: false, reason: 'host bits set; did you mean 2001:db8:1::/48?' }, `got ${js(v6host)}; want host bits error`);
  const iface = parsePrefix('10.1.0.2/24', 'allow');
  if (!iface.ok) { t.fail(`got ${iface.reason}; want an interface address`); return; }
  t.equal(formatPrefix(iface.value), '10.1.0.0/24', `network: got ${formatPrefix(iface.value)}; want 10.1.0.0/24`);
  t.equal(formatPrefix(iface.value, 'address'), '10.1.0.2/24', `address: got ${formatPrefix(iface.value, 'address')}; want 10.1.0.2/24`);
  const bad: Array<[string, RegExp]> = [
    ['10.1.0.0', /missing \/length/],
    ['10.1.0.0/33', /33 is over 32/],
    ['2001:db8::/129', /129 is over 128/],
    ['10.1.0.0/x', /not a number/],
    ['10.1.0.0/', /not a number/],
    ['10.1.0/24', /four numbers/],
  ];
  for (const [text, reason] of bad) {
    const p = parsePrefix(text, 'allow');
    t.ok(!p.ok && reason.test(p.reason), `${text}: got ${js(p)}; want an error matching ${reason}`);
  }
  t.ok(parsePrefix('0.0.0.0/0').ok, 'got an error for 0.0.0.0/0; want the default route');
  t.ok(parsePrefix('::/0').ok, 'got an error for ::/0; want the default route');
});

t.test('prefixContains and prefixesOverlap', async (t) => {
  const cases: Array<[string, string, boolean, boolean]> = [
    // outer, inner, outer contains inner, they overlap
    ['10.0.0.0/8', '10.1.0.0/16', true, true],
    ['10.1.0.0/16', '10.0.0.0/8', false, true],
    ['10.1.0.0/24', '10.1.1.0/24', false, false],
    ['10.1.0.0/24', '10.1.0.0/24', true, true],
    ['0.0.0.0/0', '192.0.2.0/24', true, true],
    ['10.1.0.0/24', '10.1.0.255/32', true, true],
    ['10.1.0.0/24', '10.1.1.0/32', false, false],
    ['2001:db8::/32', '2001:db8:5::/48', true, true],
    ['2001:db8::/32', '2001:db9::/48', false, false],
    ['::/0', '10.0.0.0/8', false, false], // families never overlap
  ];
  for (const [outer, inner, contains, overlap] of cases) {
    const o = pfx(outer);
    const i = pfx(inner);
    t.equal(prefixContains(o, i), contains, `${outer} contains ${inner}: got ${!contains}; want ${contains}`);
    t.equal(prefixesOverlap(o, i), overlap, `${outer} overlaps ${inner}: got ${!overlap}; want ${overlap}`);
    t.equal(prefixesOverlap(i, o), overlap, `${inner} overlaps ${outer}: got ${!overlap}; want ${overlap}`);
  }
  const a = parseAddress('10.1.0.7');
  if (!a.ok) throw new Error('setup');
  t.ok(prefixContains(pfx('10.1.0.0/24'), a.value), 'got 10.1.0.7 outside 10.1.0.0/24; want inside');
  t.notOk(prefixContains(pfx('10.2.0.0/24'), a.value), 'got 10.1.0.7 inside 10.2.0.0/24; want outside');
  const h = hostPrefix(a.value);
  t.ok(isHostPrefix(h) && formatPrefix(h) === '10.1.0.7/32', `got ${formatPrefix(h)}; want 10.1.0.7/32`);
  t.notOk(isHostPrefix(pfx('10.1.0.7/31')), 'got /31 as a host prefix; want not');
});

t.test('network-order bytes: to and from an address, printed as formatAddress prints it', async (t) => {
  const cases: Array<[string, string]> = [
    ['192.0.2.1', 'c0000201'],
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fe80::1:0:0:5', 'fe800000000000000001000000000005'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
  ];
  for (const [text, hex] of cases) {
    const parsed = parseAddress(text);
    if (!parsed.ok) { t.fail(`${text}: got ${parsed.reason}; want an address`); continue; }
    const bytes = addressToBytes(parsed.value);
    t.equal(Buffer.from(bytes).toString('hex'), hex, `${text}: got bytes ${Buffer.from(bytes).toString('hex')}; want ${hex}`);
    t.equal(formatAddressBytes(bytes), formatAddress(parsed.value), `${text}: got ${formatAddressBytes(bytes)} from bytes; want ${formatAddress(parsed.value)}`);
    t.same(addressFromBytes(bytes), parsed.value, `${text}: bytes back to the address`);
  }
  for (const len of [0, 3, 5, 15, 17]) t.equal(addressFromBytes(new Uint8Array(len)), undefined, `${len} bytes: got an address; want undefined`);
});

t.test('the IPv4 address inside an IPv4-mapped IPv6 address, and no other', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['::ffff:192.0.2.1', 'c0000201'],
    ['::ffff:0:0', '00000000'],
    ['::192.0.2.1', undefined],
    ['::fffe:192.0.2.1', undefined],
    ['2001:db8::ffff:c000:201', undefined],
    ['192.0.2.1', undefined],
  ];
  for (const [text, want] of cases) {
    const parsed = parseAddress(text);
    if (!parsed.ok) { t.fail(`${text}: got ${parsed.reason}; want an address`); continue; }
    const got = ipv4MappedBytes(addressToBytes(parsed.value));
    const hex = got && Buffer.from(got).toString('hex');
    t.equal(hex, want, `${text}: got ${hex}; want ${want}`);
  }
});
