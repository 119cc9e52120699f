import t from 'tap';
import { arpFrameLength, formatMac, gratuitousArp, naFrameLength, parseMac, unsolicitedNa, virtualMac } from './garp.js';

const hex = (s: string): string => s.replace(/[^0-9a-f]/gi, '').toLowerCase();

// Hand-laid frames (tcpdump 4.99 -vv decodes both as intended and reports
// "icmp6 sum ok" for the NA).
const arpRequest = hex(`
  ff ff ff ff ff ff  00 00 5e 00 01 33  08 06
  00 01 08 00 06 04 00 01  00 00 5e 00 01 33  c0 a8 0a 01  00 00 00 00 00 00  c0 a8 0a 01`);
const arpReply = hex(`
  ff ff ff ff ff ff  00 00 5e 00 01 33  08 06
  00 01 08 00 06 04 00 02  00 00 5e 00 01 33  c0 a8 0a 01  00 00 5e 00 01 33  c0 a8 0a 01`);
// Unsolicited NA for 2001:db8::1 from fe80::2 to ff02::1, flags R|O, target
// link-layer 00:00:5e:00:02:33; ICMPv6 checksum 0x4a2f over the RFC 8200
// pseudo-header (length 32, next header 58), worked out apart from the builder.
const na = hex(`
  33 33 00 00 00 01  00 00 5e 00 02 33  86 dd
  60 00 00 00  00 20 3a ff
  fe 80 00 00 00 00 00 00  00 00 00 00 00 00 00 02
  ff 02 00 00 00 00 00 00  00 00 00 00 00 00 00 01
  88 00 4a 2f  a0 00 00 00
  20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 01
  02 01 00 00 5e 00 02 33`);

t.test('virtual MAC per RFC 9568 7.3', async (t) => {
  const cases = [
    { vrid: 51, family: 4 as const, want: '00:00:5e:00:01:33' },
    { vrid: 51, family: 6 as const, want: '00:00:5e:00:02:33' },
    { vrid: 1, family: 4 as const, want: '00:00:5e:00:01:01' },
    { vrid: 255, family: 6 as const, want: '00:00:5e:00:02:ff' },
  ];
  for (const c of cases) {
    const got = formatMac(virtualMac(c.vrid, c.family));
    t.equal(got, c.want, `vrid ${c.vrid} IPv${c.family}: got ${got}; want ${c.want}`);
  }
  t.throws(() => virtualMac(0, 4), { code: 'TERN_E_PAIRD_ARG' });
  t.equal(formatMac(parseMac('00-00-5E-00-01-33')), '00:00:5e:00:01:33');
});

t.test('frames byte for byte', async (t) => {
  const cases: { name: string; got: () => Buffer; want: string; len: number }[] = [
    { name: 'ARP announcement (request)', got: () => gratuitousArp({ mac: virtualMac(51, 4), address: '192.168.10.1' }), want: arpRequest, len: arpFrameLength },
    { name: 'ARP announcement, MAC as text', got: () => gratuitousArp({ mac: '00:00:5e:00:01:33', address: '192.168.10.1', op: 'request' }), want: arpRequest, len: arpFrameLength },
    { name: 'gratuitous ARP reply', got: () => gratuitousArp({ mac: virtualMac(51, 4), address: '192.168.10.1', op: 'reply' }), want: arpReply, len: arpFrameLength },
    { name: 'unsolicited NA', got: () => unsolicitedNa({ mac: virtualMac(51, 6), target: '2001:db8::1', src: 'fe80::2' }), want: na, len: naFrameLength },
  ];
  for (const c of cases) {
    const got = c.got();
    t.equal(got.toString('hex'), c.want, `${c.name}: got ${got.toString('hex')}; want ${c.want}`);
    t.equal(got.length, c.len);
  }
  const noRouter = unsolicitedNa({ mac: virtualMac(51, 6), target: '2001:db8::1', src: 'fe80::2', router: false });
  t.equal(noRouter[14 + 40 + 4], 0x20, 'router false: only O set');
  const selfSourced = unsolicitedNa({ mac: virtualMac(51, 6), target: '2001:db8::1' });
  t.equal(selfSourced.subarray(22, 38).toString('hex'), '20010db8000000000000000000000001', 'default source is the target');
  // A receiver sums the whole ICMPv6 message with its pseudo-header to 0xffff.
  let sum = 0;
  const words = Buffer.concat([selfSourced.subarray(22, 54), Buffer.from([0, 0, 0, 32, 0, 0, 0, 58]), selfSourced.subarray(54)]);
  for (let i = 0; i < words.length; i += 2) sum += words.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  t.equal(sum, 0xffff, `self-sourced NA checksum: got sum 0x${sum.toString(16)}; want 0xffff`);
});

t.test('bad input is refused', async (t) => {
  const bad: { name: string; f: () => unknown }[] = [
    { name: 'IPv6 address in ARP', f: () => gratuitousArp({ mac: virtualMac(1, 4), address: '2001:db8::1' }) },
    { name: 'short MAC', f: () => gratuitousArp({ mac: Buffer.alloc(5), address: '10.0.0.1' }) },
    { name: 'group MAC', f: () => gratuitousArp({ mac: '01:00:5e:00:00:12', address: '10.0.0.1' }) },
    { name: 'MAC text', f: () => parseMac('00:00:5e:00:01') },
    { name: 'IPv4 target in NA', f: () => unsolicitedNa({ mac: virtualMac(1, 6), target: '10.0.0.1' }) },
    { name: 'multicast target', f: () => unsolicitedNa({ mac: virtualMac(1, 6), target: 'ff02::1' }) },
    { name: 'multicast source', f: () => unsolicitedNa({ mac: virtualMac(1, 6), target: '2001:db8::1', src: 'ff02::2' }) },
  ];
  for (const b of bad) t.throws(b.f, { code: 'TERN_E_PAIRD_ARG' }, `${b.name}: want TERN_E_PAIRD_ARG`);
});
