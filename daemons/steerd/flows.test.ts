import t from 'tap';
import { decodeCtFlows, encodeMoves, type CtFlow } from './fastpath.js';
import { classOf, topFlows } from './flows.js';
import type { SelectorPolicy } from './types.js';

const steering = { sla: {}, mode: 'best' as const, preferWans: [], hysteresisPct: 20, holdMs: 0 };
const policy: SelectorPolicy = {
  classes: [
    { name: 'voice', match: { protocols: [17], ports: [[5000, 5099]] }, ...steering },
    { name: 'cloud', match: { dst: ['10.30.0.0/16'] }, ...steering },
    { name: 'marked', match: { dscp: [46], src: ['10.20.0.0/24'] }, ...steering },
  ],
  default: steering,
  flows: { max: 10, idleTimeoutMs: 1000 },
};

const flow = (over: Partial<CtFlow>): CtFlow => ({ family: 4, protocol: 6, src: '10.99.0.1', dst: '10.10.0.5', srcPort: 40000, dstPort: 443, mark: 0x100010, packets: 1, bytes: 100, ...over });

t.test('a flow\'s class from its 5-tuple', async (t) => {
  const cases: Array<[Partial<CtFlow>, string]> = [
    [{ protocol: 17, dstPort: 5004 }, 'voice'],
    [{ protocol: 6, dstPort: 5004 }, 'default'],
    [{ protocol: 17, dstPort: 5004, dst: '10.30.1.1' }, 'voice'],
    [{ dst: '10.30.1.1' }, 'cloud'],
    [{ src: '10.20.0.7' }, 'marked'],
    [{ family: 6, src: 'fd00::1', dst: 'fd00::2' }, 'default'],
  ];
  for (const [over, want] of cases) t.equal(classOf(policy, flow(over)), want, `${JSON.stringify(over)}: want ${want}`);
});

t.test('top flows: biggest first, with class and path name', async (t) => {
  const rows = topFlows([flow({ bytes: 5 }), flow({ bytes: 500, protocol: 17, dstPort: 5000 }), flow({ bytes: 50 })], policy, (m) => `p${m.toString(16)}`, 2);
  t.same(rows.map((r) => [r.bytes, r.class, r.path]), [[500, 'voice', 'p100010'], [50, 'default', 'p100010']]);
});

t.test('conntrack records and move records, byte by byte', async (t) => {
  const rec = Buffer.alloc(80);
  rec[0] = 4; rec[1] = 17; rec.writeUInt16LE(40004, 2); rec.writeUInt16LE(5004, 4);
  rec.set([10, 2, 0, 10], 6); rec.set([10, 1, 0, 10], 22);
  rec.writeUInt32LE(0x100011, 40);
  rec.writeBigUInt64LE(3n, 48); rec.writeBigUInt64LE(300n, 56); rec.writeBigUInt64LE(2n, 64); rec.writeBigUInt64LE(20n, 72);
  t.same(decodeCtFlows(Buffer.concat([rec, rec.subarray(0, 10)])), [{
    family: 4, protocol: 17, srcPort: 40004, dstPort: 5004, src: '10.2.0.10', dst: '10.1.0.10', mark: 0x100011, packets: 5, bytes: 320,
  }], 'one record (a trailing partial one is ignored)');
  const m = encodeMoves([{ flow: { family: 4, protocol: 17, src: '10.2.0.10', dst: '10.1.0.10', srcPort: 40004, dstPort: 5004 }, class: 'voice', from: 0x100011, to: 0x100010 }]);
  t.equal(m.length, 48);
  t.same(m.subarray(0, 38), rec.subarray(0, 38), 'the key is the flow record\'s');
  t.equal(m.readUInt32LE(40), 0x100011, 'from');
  t.equal(m.readUInt32LE(44), 0x100010, 'to');
});

t.test('a domain class: with the destination\'s hint known, only its own hint; without, on its other criteria (as the sweeps)', async (t) => {
  const hinted: SelectorPolicy = { ...policy, classes: [{ name: 'slack', match: {}, domainHint: 1, ...steering }, ...policy.classes] };
  const cases: Array<[number | undefined, string]> = [
    [1, 'slack'],
    [0, 'default'],
    [2, 'default'],
    [undefined, 'slack'],
  ];
  for (const [hint, want] of cases) {
    const got = classOf(hinted, flow({ dst: '192.0.2.7' }), hint);
    t.equal(got, want, `hint ${hint}: got ${got}; want ${want}`);
  }
  const rows = topFlows([flow({ dst: '192.0.2.7' }), flow({ dst: '192.0.2.8', srcPort: 40001 })], hinted, () => 'p', 10, (dst) => (dst === '192.0.2.7' ? 1 : 0));
  t.same(rows.map((r) => [r.dst, r.class]), [['192.0.2.7', 'slack'], ['192.0.2.8', 'default']], `steer.flows classes: got ${JSON.stringify(rows.map((r) => r.class))}`);
});
