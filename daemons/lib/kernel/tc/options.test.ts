// Byte-level tests of the qdisc and class options Tern sends (x86/arm64
// little-endian host order), and of reading them back.
import t from 'tap';
import {
  decodeClassOptions, decodeQdiscOptions, encodeClassOptions, encodeQdiscOptions, normalizeClassOptions,
  normalizeQdiscOptions, optionsMatch, type ClassOptions, type QdiscOptions,
} from './options.js';

const hex = (b: Buffer | undefined): string => (b ? b.toString('hex').replace(/(.{8})/g, '$1 ').trim() : 'undefined');

t.test('qdisc options encode to the kernel structs byte for byte', async (t) => {
  const cases: Array<{ name: string; o: QdiscOptions; want: string }> = [
    {
      // TCA_HTB_INIT (2), struct tc_htb_glob: version 3, r2q 10, defcls 0x13, debug 0, direct_pkts 0
      name: 'htb root, default class 0x13',
      o: { kind: 'htb', defaultClass: 0x13 },
      want: '18000200 03000000 0a000000 13000000 00000000 00000000',
    },
    {
      name: 'htb with direct_qlen',
      o: { kind: 'htb', defaultClass: 2, r2q: 5, directQlen: 100 },
      want: '18000200 03000000 05000000 02000000 00000000 00000000 08000500 64000000',
    },
    {
      // TARGET 5000 us, LIMIT 10240, INTERVAL 100000 us, ECN 1, QUANTUM 1514, MEMORY_LIMIT 4 MiB
      name: 'fq_codel',
      o: { kind: 'fq_codel', targetUs: 5000, intervalUs: 100000, limit: 10240, ecn: true, quantum: 1514, memoryLimit: 4194304 },
      want: '08000100 88130000 08000200 00280000 08000300 a0860100 08000400 01000000 08000600 ea050000 08000900 00004000',
    },
    {
      // BASE_RATE64 2.5e6 B/s, DIFFSERV_MODE 1 (diffserv4), FLOW_MODE 5 (dual-srchost), OVERHEAD 44, NAT 1, INGRESS 0, SPLIT_GSO 1
      name: 'cake diffserv4 egress',
      o: { kind: 'cake', bandwidthBps: 20e6, diffserv: 'diffserv4', flowMode: 'dual-srchost', overheadBytes: 44, nat: true, ingress: false, splitGso: true },
      want: '0c000200 a0252600 00000000 08000300 01000000 08000500 05000000 08000600 2c000000 08000b00 01000000 08000f00 00000000 08001100 01000000',
    },
    {
      name: 'cake on an IFB: ingress mode, dual-dsthost',
      o: { kind: 'cake', bandwidthBps: 50e6, diffserv: 'diffserv4', flowMode: 'dual-dsthost', ingress: true },
      want: '0c000200 105e5f00 00000000 08000300 01000000 08000500 06000000 08000f00 01000000',
    },
    {
      // TCA_TBF_PARMS: rate 1.25e6 B/s (ethernet), no peak rate, limit 125000, buffer 12 ms = 187500 ticks, mtu 0; TCA_TBF_BURST 15000
      name: 'tbf 10 Mbit/s',
      o: { kind: 'tbf', rateBps: 10e6, burstBytes: 15000, limitBytes: 125000 },
      want: '28000100 00010000 00000000 d0121300 00000000 00000000 00000000 48e80100 6cdc0200 00000000 08000600 983a0000',
    },
    { name: 'bfifo: struct tc_fifo_qopt itself', o: { kind: 'bfifo', limit: 30000 }, want: '30750000' },
    { name: 'pfifo', o: { kind: 'pfifo', limit: 100 }, want: '64000000' },
    { name: 'ingress takes no options', o: { kind: 'ingress' }, want: 'undefined' },
  ];
  for (const c of cases) {
    const got = hex(encodeQdiscOptions(c.o));
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
});

t.test('htb class options: tc_htb_opt with ethernet ratespecs, no rate tables, RATE64 above 34 Gbit/s', async (t) => {
  const cases: Array<{ name: string; o: ClassOptions; want: string }> = [
    {
      // rate = ceil = 2.5e6 B/s, linklayer 1, overhead 30; buffer 2500 B at 2.5e6 B/s = 1 ms = 15625 ticks; quantum 1514; level 0; prio 0
      name: '20 Mbit/s, overhead 30',
      o: { kind: 'htb', rateBps: 20e6, ceilBps: 20e6, burstBytes: 2500, cburstBytes: 2500, quantum: 1514, prio: 0, overheadBytes: 30 },
      want: '30000100 00011e00 00000000 a0252600 00011e00 00000000 a0252600 093d0000 093d0000 ea050000 00000000 00000000',
    },
    {
      // 40 / 50 Gbit/s: the u32 fields say ~0 and RATE64 (6) / CEIL64 (7) carry 5e9 and 6.25e9 B/s
      name: '40 Gbit/s ceil 50 Gbit/s',
      o: { kind: 'htb', rateBps: 40e9, ceilBps: 50e9, burstBytes: 5e6, cburstBytes: 5e6, quantum: 200000, prio: 2 },
      want: '30000100 00010000 00000000 ffffffff 00010000 00000000 ffffffff 093d0000 d4300000 400d0300 00000000 02000000 0c000600 00f2052a 01000000 0c000700 806e8774 01000000',
    },
  ];
  for (const c of cases) {
    const got = hex(encodeClassOptions(c.o));
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
});

t.test('what is encoded decodes to the same options', async (t) => {
  const qdiscs: QdiscOptions[] = [
    { kind: 'htb', defaultClass: 0x13, r2q: 10 },
    { kind: 'fq_codel', targetUs: 5000, intervalUs: 100000, limit: 10240, ecn: false, flows: 1024, quantum: 300, memoryLimit: 1 << 22 },
    { kind: 'cake', bandwidthBps: 20e6, diffserv: 'diffserv4', flowMode: 'triple-isolate', overheadBytes: 44, mpu: 64, nat: false, wash: false, ingress: true, ackFilter: 'filter', rttUs: 100000, splitGso: true, memoryLimit: 1 << 22 },
    { kind: 'tbf', rateBps: 10e6, burstBytes: 15000, limitBytes: 125000, overheadBytes: 0 },
    { kind: 'bfifo', limit: 30000 },
    { kind: 'pfifo', limit: 50 },
    { kind: 'ingress' },
    { kind: 'clsact' },
  ];
  for (const o of qdiscs) t.same(decodeQdiscOptions(o.kind, encodeQdiscOptions(o)), o, `${o.kind}: round trip`);
  const cls: ClassOptions = { kind: 'htb', rateBps: 40e9, ceilBps: 50e9, burstBytes: 5e6, cburstBytes: 5e6, quantum: 200000, prio: 2, overheadBytes: 30, mpu: 64 };
  t.same(decodeClassOptions('htb', encodeClassOptions(cls)), cls, 'htb class round trip, 64-bit rates');
  t.equal(decodeQdiscOptions('noqueue', undefined), null, 'kinds Tern does not read decode to null');
});

t.test('options the kernel dumped are read (captured from Linux 6.18)', async (t) => {
  // tc qdisc add ... htb default 13: TCA_HTB_INIT plus TCA_HTB_DIRECT_QLEN 32
  const htb = Buffer.from('1800020003000000' + '0a000000' + '13000000' + '00000000' + '00000000' + '0800050020000000', 'hex');
  t.same(decodeQdiscOptions('htb', htb), { kind: 'htb', defaultClass: 0x13, r2q: 10, directQlen: 32 });
  // a cake dump carries RAW while no overhead is set: then the overhead is not reported
  const cakeRaw = Buffer.concat([
    Buffer.from('0c000200' + 'a0252600' + '00000000', 'hex'),
    Buffer.from('08000600' + '00000000', 'hex'),
    Buffer.from('08000c00' + '00000000', 'hex'),
  ]);
  t.same(decodeQdiscOptions('cake', cakeRaw), { kind: 'cake', bandwidthBps: 20e6 });
  t.throws(() => decodeQdiscOptions('htb', Buffer.from('0800050020000000', 'hex')), /TCA_HTB_INIT/, 'htb without INIT is malformed');
  t.throws(() => decodeQdiscOptions('htb', Buffer.from('ff00020003', 'hex')), /runs past/, 'an attribute longer than the buffer is malformed');
});

t.test('bad options fail with TERN_E_KERNEL_ARG before anything is sent', async (t) => {
  const base = { kind: 'htb' as const, rateBps: 1e6, ceilBps: 1e6, burstBytes: 1600, cburstBytes: 1600, quantum: 1514, prio: 0 };
  const bad: Array<[string, () => unknown]> = [
    ['htb rate 0', () => encodeClassOptions({ ...base, rateBps: 0 })],
    ['htb rate negative', () => encodeClassOptions({ ...base, rateBps: -1e6 })],
    ['htb rate NaN', () => encodeClassOptions({ ...base, rateBps: NaN })],
    ['htb rate absurd', () => encodeClassOptions({ ...base, rateBps: 1e20, ceilBps: 1e20 })],
    ['htb ceil below rate', () => encodeClassOptions({ ...base, ceilBps: 5e5 })],
    ['htb prio 8', () => encodeClassOptions({ ...base, prio: 8 })],
    ['htb burst 0', () => encodeClassOptions({ ...base, burstBytes: 0 })],
    ['htb default class above 0xffff', () => encodeQdiscOptions({ kind: 'htb', defaultClass: 0x10000 })],
    ['cake diffserv unknown', () => encodeQdiscOptions({ kind: 'cake', bandwidthBps: 1e6, diffserv: 'diffserv5' as never })],
    ['cake overhead 1000', () => encodeQdiscOptions({ kind: 'cake', bandwidthBps: 1e6, overheadBytes: 1000 })],
    ['bfifo limit 0', () => encodeQdiscOptions({ kind: 'bfifo', limit: 0 })],
    ['fq_codel flows 0', () => encodeQdiscOptions({ kind: 'fq_codel', flows: 0 })],
    ['unknown kind', () => encodeQdiscOptions({ kind: 'netem' } as never)],
    ['class kind not htb', () => encodeClassOptions({ ...base, kind: 'hfsc' } as never)],
  ];
  for (const [name, fn] of bad) {
    t.throws(fn, { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `${name}: got no TERN_E_KERNEL_ARG; want one`);
  }
});

t.test('optionsMatch compares what the kernel keeps, only for the options asked for', async (t) => {
  const want: QdiscOptions = { kind: 'cake', bandwidthBps: 20_000_004, diffserv: 'diffserv4' };
  // 20_000_004 bit/s is kept as 2_500_000 B/s: reads back as 20_000_000.
  const kernel = { kind: 'cake', bandwidthBps: 20e6, diffserv: 'diffserv4', flowMode: 'triple-isolate', splitGso: true };
  t.ok(optionsMatch(want, kernel, normalizeQdiscOptions), 'same after rounding; extra kernel options ignored');
  t.notOk(optionsMatch(want, { ...kernel, bandwidthBps: 18e6 }, normalizeQdiscOptions), 'another rate differs');
  t.notOk(optionsMatch(want, { ...kernel, kind: 'htb' }, normalizeQdiscOptions), 'another kind differs');
  t.notOk(optionsMatch(want, null, normalizeQdiscOptions), 'nothing there differs');
  const cls: ClassOptions = { kind: 'htb', rateBps: 20e6, ceilBps: 20e6, burstBytes: 2500, cburstBytes: 2500, quantum: 1514, prio: 1, overheadBytes: 30 };
  const read = decodeClassOptions('htb', encodeClassOptions(cls));
  t.ok(optionsMatch(cls, read, normalizeClassOptions), 'a class read back matches');
  t.notOk(optionsMatch({ ...cls, prio: 2 }, read, normalizeClassOptions), 'another prio differs');
});
