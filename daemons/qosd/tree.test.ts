// The kernel objects of a WAN direction, in each mode: HTB with FIFO
// leaves (this sandbox's kernel), HTB with fq_codel leaves and cake (the
// image's kernel), down to the bytes the cake and fq_codel paths send.
import t from 'tap';
import { encodeFilterOptions, encodeQdiscOptions, formatHandle, type FqCodelOptions, type HtbClassOptions } from '../lib/kernel/index.js';
import { qosPlan } from './plan.js';
import { qosConfig } from './testkit.js';
import { deviceTree, redirectFilter } from './tree.js';

const hex = (b: Buffer | undefined): string => (b ? b.toString('hex').replace(/(.{8})/g, '$1 ').trim() : 'undefined');
const plan = (mode: 'htb' | 'cake', leaf: 'bfifo' | 'fq_codel' | null = 'bfifo', patch: Record<string, unknown> = {}) =>
  qosPlan(qosConfig(patch), { mode, leaf, ingress: true }).wans[0]!;

t.test('HTB with FIFO leaves: one class per QoS class under the shaper class, DSCP filters for IPv4 and IPv6', async (t) => {
  const tr = deviceTree(plan('htb', 'bfifo'), 'up');
  t.same(tr.root, { handle: 0x74710000, options: { kind: 'htb', defaultClass: 0x13 } }, 'unclassified traffic goes to besteffort (7471:13)');
  const rows = tr.classes.map((c) => [c.name, formatHandle(c.classid), formatHandle(c.parent), c.options.rateBps, c.options.ceilBps, c.options.prio]);
  t.same(rows, [
    ['shaper', '7471:1', '7471:', 20e6, 20e6, 0],
    ['realtime', '7471:11', '7471:1', 5e6, 20e6, 0],
    ['interactive', '7471:12', '7471:1', 6e6, 20e6, 1],
    ['besteffort', '7471:13', '7471:1', 7e6, 20e6, 2],
    ['bulk', '7471:14', '7471:1', 2e6, 20e6, 3],
  ], 'shares 25/30/35/10 % of 20 Mbit/s, all may borrow up to the shaped rate');
  const c0 = tr.classes[0]!.options as HtbClassOptions;
  t.equal(c0.overheadBytes, 30, 'overhead 44 beyond the IP packet = 30 beyond the Ethernet frame HTB already counts');
  t.equal(c0.burstBytes, 2500, '1 ms at 20 Mbit/s');
  t.same(tr.leaves.map((l) => [l.name, formatHandle(l.parent), formatHandle(l.handle), l.options]), [
    ['realtime', '7471:11', '11:', { kind: 'bfifo', limit: 25000 }],
    ['interactive', '7471:12', '12:', { kind: 'bfifo', limit: 50000 }],
    ['besteffort', '7471:13', '13:', { kind: 'bfifo', limit: 75000 }],
    ['bulk', '7471:14', '14:', { kind: 'bfifo', limit: 125000 }],
  ], 'FIFOs of 10/20/30/50 ms at the class ceiling');
  const v4 = tr.filters.filter((f) => f.protocol === 'ip');
  t.same(v4.map((f) => [f.dscp, f.name, f.node]), [
    [1, 'bulk', 1], [8, 'bulk', 2], [24, 'interactive', 3], [26, 'interactive', 4], [28, 'interactive', 5], [30, 'interactive', 6],
    [32, 'interactive', 7], [34, 'interactive', 8], [36, 'interactive', 9], [38, 'interactive', 10], [40, 'realtime', 11], [44, 'realtime', 12], [46, 'realtime', 13],
  ], 'besteffort needs no filter: it is the default class');
  t.equal(tr.filters.filter((f) => f.protocol === 'ipv6').length, 13, 'the same for IPv6 in priority 2');
  // EF → 7471:11, as `tc filter add ... protocol ip prio 1 handle ::13 u32 match ip tos 0xb8 0xfc flowid 7471:11`.
  const ef = v4.find((f) => f.dscp === 46)!;
  t.equal(hex(encodeFilterOptions(ef.options)), '08000100 11007174 24000500 01000100 00000000 00000000 00000000 00fc0000 00b80000 00000000 00000000');
});

t.test('a class share of 0 % still gets a small rate to borrow from; slow links keep a few packets of FIFO', async (t) => {
  const tr = deviceTree(plan('htb', 'bfifo', {
    wans: [{ name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 1, downMbps: 2 }],
    qos: { enabled: true, classes: { bulk: { sharePct: 0 } } },
  }), 'up');
  const bulk = tr.classes.find((c) => c.name === 'bulk')!;
  t.equal(bulk.options.rateBps, 8000);
  t.same(tr.leaves.find((l) => l.name === 'realtime')?.options, { kind: 'bfifo', limit: 8 * (1514 + 44) }, '10 ms at 1 Mbit/s is under 8 frames');
});

t.test('HTB with fq_codel leaves: sqm-scripts\' parameters, encoded', async (t) => {
  const up = deviceTree(plan('htb', 'fq_codel'), 'up');
  const down = deviceTree(plan('htb', 'fq_codel'), 'down');
  const leaf = up.leaves.find((l) => l.name === 'besteffort')!.options as FqCodelOptions;
  t.same(leaf, { kind: 'fq_codel', targetUs: 5000, intervalUs: 100000, ecn: false, quantum: 300, memoryLimit: 4194304 });
  t.equal((down.leaves[0]!.options as FqCodelOptions).ecn, true, 'downstream marks ECN');
  // TARGET 5000, INTERVAL 100000, ECN 0, QUANTUM 300, MEMORY_LIMIT 4 MiB
  t.equal(hex(encodeQdiscOptions(leaf)), '08000100 88130000 08000300 a0860100 08000400 00000000 08000600 2c010000 08000900 00004000');
  const slow = deviceTree(plan('htb', 'fq_codel', { wans: [{ name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 1, downMbps: 1 }] }), 'up');
  const s = slow.leaves[0]!.options as FqCodelOptions;
  t.same([s.targetUs, s.intervalUs], [18696, 113696], 'at 1 Mbit/s the target covers 1.5 frame times (1558 B = 12.46 ms)');
});

t.test('cake: one qdisc, diffserv4, its own overhead, ingress mode on the IFB; no classes or filters', async (t) => {
  const up = deviceTree(plan('cake', null), 'up');
  const down = deviceTree(plan('cake', null), 'down');
  t.same([up.classes, up.leaves, up.filters], [[], [], []]);
  t.same(up.root.options, { kind: 'cake', bandwidthBps: 20e6, diffserv: 'diffserv4', flowMode: 'dual-srchost', overheadBytes: 44, nat: true, ingress: false, splitGso: true });
  t.same(down.root.options, { kind: 'cake', bandwidthBps: 50e6, diffserv: 'diffserv4', flowMode: 'dual-dsthost', overheadBytes: 44, nat: true, ingress: true, splitGso: true });
  // BASE_RATE64 2.5e6 B/s, DIFFSERV_MODE 1, FLOW_MODE 5 (dual-srchost), OVERHEAD 44, NAT 1, INGRESS 0, SPLIT_GSO 1
  t.equal(hex(encodeQdiscOptions(up.root.options)),
    '0c000200 a0252600 00000000 08000300 01000000 08000500 05000000 08000600 2c000000 08000b00 01000000 08000f00 00000000 08001100 01000000');
});

t.test('the ingress redirect: match everything, mirred egress redirect to the IFB', async (t) => {
  t.same(redirectFilter(9), { kind: 'u32', keys: [{ offset: 0, mask: 0, value: 0 }], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: 9 }] });
});
