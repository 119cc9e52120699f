import t from 'tap';
import { canonicalNetwork, formatCidr, formatEndpoint, formatIp, parseCidr, parseEndpoint, parseIp } from './ip.js';

t.test('parseIp / formatIp round trip to canonical text', async (t) => {
  const cases: [string, string, string][] = [
    // input, canonical, hex bytes
    ['192.0.2.1', '192.0.2.1', 'c0000201'],
    ['0.0.0.0', '0.0.0.0', '00000000'],
    ['2001:db8::1', '2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', '20010db8000000000000000000000001'],
    ['::', '::', '00000000000000000000000000000000'],
    ['::1', '::1', '00000000000000000000000000000001'],
    ['fe80::', 'fe80::', 'fe800000000000000000000000000000'],
    // RFC 5952 4.2.2: a single zero group is not compressed; 4.2.3: the first longest run is.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', '20010000000000010000000000000001'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', '20010db8000000000001000000000001'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221', '0064ff9b0000000000000000c0000221'],
  ];
  for (const [input, canon, hex] of cases) {
    const a = parseIp(input);
    t.equal(a.bytes.toString('hex'), hex, `parseIp(${input}) bytes: got ${a.bytes.toString('hex')}; want ${hex}`);
    t.equal(formatIp(a.bytes), canon, `formatIp(${input}): got ${formatIp(a.bytes)}; want ${canon}`);
  }
});

t.test('parseIp refuses what is not an address', async (t) => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4/24', 'a.b.c.d', '1::2::3', '1:2:3:4:5:6:7:8:9',
    '12345::', 'fe80::1%eth0', '::g', ' 1.2.3.4', 'localhost', ':::']) {
    t.throws(() => parseIp(bad), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `parseIp(${JSON.stringify(bad)}): got no TERN_E_KERNEL_ARG; want one`);
  }
});

t.test('parseCidr keeps host bits unless network is required', async (t) => {
  const p = parseCidr('10.1.0.1/24');
  t.equal(formatCidr(p), '10.1.0.1/24');
  t.equal(parseCidr('10.1.0.1').length, 32, 'a bare IPv4 address is a /32');
  t.equal(parseCidr('2001:db8::1').length, 128, 'a bare IPv6 address is a /128');
  t.equal(formatCidr(parseCidr('0.0.0.0/0', { network: true })), '0.0.0.0/0');
  t.throws(() => parseCidr('10.1.0.1/24', { network: true }), /host bits zero \(10\.1\.0\.0\/24\)/, 'host bits in a route destination are refused with the network named');
  t.equal(canonicalNetwork('10.1.0.77/24'), '10.1.0.0/24');
  t.equal(canonicalNetwork('2001:DB8:0:0:1::/48'), '2001:db8::/48');
  for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '::/129', '10.0.0.0/08', '/24', '10.0.0.0/24/1']) {
    t.throws(() => parseCidr(bad), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `parseCidr(${bad}): got no TERN_E_KERNEL_ARG; want one`);
  }
});

t.test('endpoints: IPv4 bare, IPv6 bracketed, port 1-65535', async (t) => {
  t.equal(formatEndpoint(parseEndpoint('192.0.2.1:51820')), '192.0.2.1:51820');
  t.equal(formatEndpoint(parseEndpoint('[2001:DB8::1]:51820')), '[2001:db8::1]:51820');
  for (const bad of ['192.0.2.1', '192.0.2.1:0', '192.0.2.1:65536', '2001:db8::1:51820', '[192.0.2.1]:1', 'host.example:51820', '[::1]']) {
    t.throws(() => parseEndpoint(bad), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `parseEndpoint(${bad}): got no TERN_E_KERNEL_ARG; want one`);
  }
});
