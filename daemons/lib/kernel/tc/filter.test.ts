// Byte-level tests of u32 filters and the mirred action, against the bytes
// tc(8) itself produces and the kernel dumps.
import t from 'tap';
import { decodeFilterOptions, dscpKey, encodeFilterOptions, filterInfo, filterMatches, matchAll, parseFilterInfo, type U32Options } from './filter.js';
import { tcHandle } from './handle.js';

const hex = (b: Buffer): string => b.toString('hex').replace(/(.{8})/g, '$1 ').trim();

t.test('tcm_info carries prio and the protocol in network order', async (t) => {
  const cases: Array<[number, 'ip' | 'ipv6' | 'all', number]> = [
    [1, 'ip', 0x00010008], // what `tc filter add ... prio 1 protocol ip` sends (htons(0x0800) = 0x0008)
    [2, 'ipv6', 0x0002dd86],
    [0x7471, 'all', 0x74710300],
  ];
  for (const [prio, proto, want] of cases) {
    const got = filterInfo(prio, proto);
    t.equal(got, want, `prio ${prio} ${proto}: got 0x${got.toString(16)}; want 0x${want.toString(16)}`);
    t.same(parseFilterInfo(got), { prio, protocol: { ip: 0x0800, ipv6: 0x86dd, all: 0x0003 }[proto] }, 'and back');
  }
  t.throws(() => filterInfo(0, 'ip'), { code: 'TERN_E_KERNEL_ARG' }, 'prio 0 is the kernel picking one: not allowed');
  t.throws(() => filterInfo(1, 'arp' as never), { code: 'TERN_E_KERNEL_ARG' });
});

t.test('DSCP keys: the TOS byte of IPv4, the traffic class of IPv6, ECN bits ignored', async (t) => {
  t.same(dscpKey(4, 46), { offset: 0, mask: 0x00fc0000, value: 0x00b80000 }, 'EF: tc match ip tos 0xb8 0xfc');
  t.same(dscpKey(6, 46), { offset: 0, mask: 0x0fc00000, value: 0x0b800000 }, 'EF over IPv6');
  t.same(dscpKey(4, 8), { offset: 0, mask: 0x00fc0000, value: 0x00200000 }, 'CS1');
  t.same(dscpKey(4, 63), { offset: 0, mask: 0x00fc0000, value: 0x00fc0000 });
  t.throws(() => dscpKey(4, 64), { code: 'TERN_E_KERNEL_ARG' });
});

t.test('a u32 DSCP classifier encodes as tc writes it: CLASSID, then SEL with TERMINAL and one key', async (t) => {
  const got = hex(encodeFilterOptions({ kind: 'u32', keys: [dscpKey(4, 46)], classid: tcHandle(0x7471, 0x11) }));
  // The SEL bytes are those of `tc filter add ... u32 match ip tos 0xb8 0xfc flowid 7471:11`.
  const want = '08000100 11007174 24000500 01000100 00000000 00000000 00000000 00fc0000 00b80000 00000000 00000000';
  t.equal(got, want, `got ${got}; want ${want}`);
});

t.test('mirred egress redirect: TCA_U32_ACT { 1 { KIND "mirred", OPTIONS { PARMS tc_mirred } } }', async (t) => {
  const got = hex(encodeFilterOptions({ kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 7 }] }));
  const want = [
    '24000500 01000100 00000000 00000000 00000000 00000000 00000000 00000000 00000000', // SEL: match u32 0 0, terminal
    '38000700', // TCA_U32_ACT
    '34000100', // action order 1
    '0b000100 6d697272 65640000', // TCA_ACT_KIND "mirred\0"
    '24000200 20000200', // TCA_ACT_OPTIONS { TCA_MIRRED_PARMS
    // index 0, capab 0, action TC_ACT_STOLEN (4), refcnt 0, bindcnt 0, eaction TCA_EGRESS_REDIR (1), ifindex 7
    '00000000 00000000 04000000 00000000 00000000 01000000 07000000',
  ].join(' ');
  t.equal(got, want, `got ${got}; want ${want}`);
});

t.test('a filter tc created, as the kernel dumps it, decodes', async (t) => {
  // tc filter add dev X parent 7471: protocol ip prio 1 u32 match ip tos 0xb8 0xfc flowid 7471:11
  const dump = Buffer.from('240005000100010000000000000000000000000000fc000000b8000000000000000000000800020000000080080001001100717408000b0008000000', 'hex');
  const got = decodeFilterOptions('u32', dump);
  t.same(got, { kind: 'u32', keys: [{ mask: 0x00fc0000, value: 0x00b80000, offset: 0 }], classid: tcHandle(0x7471, 0x11), actions: [], divisor: null });
  const want: U32Options = { kind: 'u32', keys: [dscpKey(4, 46)], classid: tcHandle(0x7471, 0x11) };
  t.ok(filterMatches(want, got), 'it is the filter Tern wants for EF');
  t.notOk(filterMatches({ ...want, classid: tcHandle(0x7471, 0x12) }, got), 'another class is another filter');
  t.notOk(filterMatches({ ...want, keys: [dscpKey(4, 34)] }, got), 'another DSCP is another filter');
  // the hash table entry of the dump: TCA_U32_DIVISOR 1
  const ht = decodeFilterOptions('u32', Buffer.from('0800040001000000', 'hex'));
  t.equal(ht?.divisor, 1);
  t.notOk(filterMatches(want, ht), 'a hash table is never a filter');
});

t.test('mirred round trip, with the action counters read back', async (t) => {
  const o: U32Options = { kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 12 }] };
  const got = decodeFilterOptions('u32', encodeFilterOptions(o));
  t.same(got?.actions, [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 12, stats: null }]);
  t.ok(filterMatches(o, got));
  t.notOk(filterMatches({ ...o, actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 13 }] }, got), 'a redirect to another device differs');
});

t.test('bad filters fail before anything is sent', async (t) => {
  const bad: Array<[string, U32Options]> = [
    ['no keys', { kind: 'u32', keys: [], classid: 1 }],
    ['unaligned offset', { kind: 'u32', keys: [{ offset: 2, mask: 0xff, value: 1 }], classid: 1 }],
    ['mask above u32', { kind: 'u32', keys: [{ offset: 0, mask: 2 ** 32, value: 1 }], classid: 1 }],
    ['no classid and no action', { kind: 'u32', keys: [matchAll] }],
    ['mirred without ifindex', { kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 0 }] }],
    ['unknown action', { kind: 'u32', keys: [matchAll], actions: [{ kind: 'skbedit' } as never] }],
  ];
  for (const [name, o] of bad) {
    t.throws(() => encodeFilterOptions(o), { name: 'TernError', code: 'TERN_E_KERNEL_ARG' }, `${name}: got no TERN_E_KERNEL_ARG; want one`);
  }
});
