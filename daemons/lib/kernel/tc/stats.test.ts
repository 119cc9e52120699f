// Counters as the kernel nests them: gnet_stats in TCA_STATS2, and cake's
// per-tin statistics inside TCA_STATS_APP (built here byte by byte).
import t from 'tap';
import { attr, nest, u32Attr, u64Attr } from './attr.js';
import { parseCakeTins, parseStats2 } from './stats.js';

const basic = (bytes: number, packets: number): Buffer => {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(bytes), 0);
  b.writeUInt32LE(packets, 8);
  return attr(1, b);
};

t.test('TCA_STATS2: basic counters and the queue', async (t) => {
  const q = Buffer.alloc(20);
  [3, 4500, 7, 0, 11].forEach((v, i) => q.writeUInt32LE(v, i * 4));
  const s = parseStats2(Buffer.concat([basic(123456789012, 99), attr(3, q)]));
  t.same(s, { bytes: 123456789012, packets: 99, qlen: 3, backlog: 4500, drops: 7, requeues: 0, overlimits: 11 });
  t.equal(parseStats2(Buffer.concat([basic(1, 2), u64Attr(8, 2 ** 33)]))?.packets, 2 ** 33, 'TCA_STATS_PKT64 beyond 2^32 packets');
  t.equal(parseStats2(undefined), null);
  t.equal(parseStats2(attr(3, q)), null, 'no basic counters: nothing to report');
});

t.test('cake: TCA_STATS_APP → TIN_STATS → one nest per tin, in cake\'s order', async (t) => {
  const tin = (bytes: number, packets: number, drops: number, backlog: number, delay: number): Buffer[] => [
    u32Attr(2, packets), u64Attr(3, bytes), u32Attr(4, drops), u32Attr(8, 1), u32Attr(11, backlog), u32Attr(19, delay),
  ];
  const app = nest(4, [u64Attr(2, 2500000), nest(10, [nest(1, tin(1000, 10, 1, 0, 50)), nest(2, tin(2000, 20, 0, 1514, 900)), nest(3, tin(0, 0, 0, 0, 0)), nest(4, tin(84, 1, 0, 0, 3))])]);
  const tins = parseCakeTins(Buffer.concat([basic(3084, 31), app]));
  t.same(tins, [
    { bytes: 1000, packets: 10, drops: 1, ecnMarks: 1, backlog: 0, avgDelayUs: 50 },
    { bytes: 2000, packets: 20, drops: 0, ecnMarks: 1, backlog: 1514, avgDelayUs: 900 },
    { bytes: 0, packets: 0, drops: 0, ecnMarks: 1, backlog: 0, avgDelayUs: 0 },
    { bytes: 84, packets: 1, drops: 0, ecnMarks: 1, backlog: 0, avgDelayUs: 3 },
  ]);
  t.same(parseCakeTins(basic(1, 1)), [], 'an HTB dump has no tins');
});
