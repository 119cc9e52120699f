// The selection rules of SELECTION.md, case by case. Every case runs against
// the TypeScript reference and the Rust selector: both must give the answer
// the rules say, not merely the same answer.
import t, { type Test } from 'tap';
import { NativeSelector } from './native.js';
import { NO_PATH, ReferenceSelector, flowHash, mixHash, pairHash } from './reference.fixture.js';
import type { ClassPolicy, ClassSteering, Flow, PathInput, PathSelector, SelectorPolicy } from './types.js';
import { encodeFlows, makeFlow, readDecision } from './wire.js';

const impls: Array<[string, (p: SelectorPolicy) => PathSelector]> = [
  ['reference', (p) => new ReferenceSelector(p)],
  ['native', (p) => new NativeSelector(p)],
];

const path = (id: number, wan: string, m: Partial<PathInput> = {}): PathInput => ({
  id, wan, weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 20, jitterMs: 1, mos: 4.4, ...m,
});

const steering = (m: Partial<ClassSteering> = {}): ClassSteering => ({
  sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0, ...m,
});

const policyOf = (classes: ClassPolicy[], def: Partial<ClassSteering> = {}, flows = { max: 1000, idleTimeoutMs: 60_000 }): SelectorPolicy => ({
  classes, default: steering(def), flows,
});

/** Flow n from LAN host 10.10.0.(n % 250 + 1) to 192.0.2.1:443. */
const flow = (n: number, m: Partial<Parameters<typeof makeFlow>[0]> = {}): Flow => makeFlow({
  src: `10.10.${Math.floor(n / 250)}.${(n % 250) + 1}`, dst: '192.0.2.1', protocol: 6, srcPort: 40000 + (n % 20000), dstPort: 443, bytes: 100, ...m,
});

/** Runs `body` once per implementation, as a subtest named after it. */
async function both(t: Test, name: string, body: (t: Test, make: (p: SelectorPolicy) => PathSelector) => Promise<void> | void): Promise<void> {
  for (const [impl, make] of impls) await t.test(`${name} (${impl})`, async (t) => { await body(t, make); });
}

t.test('classification: first matching class wins, else default', async (t) => {
  const classes: ClassPolicy[] = [
    { name: 'voice', match: { protocols: [17], ports: [[5060, 5061], [10000, 20000]] }, ...steering() },
    { name: 'web', match: { dst: ['192.0.2.0/24'], ports: [[443, 443]] }, ...steering() },
    { name: 'v6', match: { dst: ['2001:db8::/32'] }, ...steering() },
    { name: 'office', match: { src: ['10.10.1.0/24'] }, ...steering() },
    { name: 'ping', match: { protocols: [1, 58] }, ...steering() },
    { name: 'video', match: { dscp: [34] }, ...steering() },
    { name: 'odd', match: { dst: ['198.51.100.0/25'], protocols: [6], dscp: [8, 10] }, ...steering() },
  ];
  const cases: Array<{ name: string; flow: Flow; want: string }> = [
    { name: 'udp 5060', flow: flow(1, { protocol: 17, dstPort: 5060 }), want: 'voice' },
    { name: 'udp 15000 to the web prefix: voice comes first', flow: flow(1, { protocol: 17, dstPort: 15000 }), want: 'voice' },
    { name: 'tcp 5060 is not voice', flow: flow(1, { protocol: 6, dstPort: 5060, dst: '203.0.113.1' }), want: 'default' },
    { name: 'tcp 443 to 192.0.2.0/24', flow: flow(1), want: 'web' },
    { name: 'tcp 443 elsewhere', flow: flow(1, { dst: '203.0.113.1' }), want: 'default' },
    { name: 'later fragment has no ports', flow: flow(1, { hasPorts: false }), want: 'default' },
    { name: 'IPv6 in 2001:db8::/32', flow: flow(1, { src: '2001:db8:10::1', dst: '2001:db8:ff::1' }), want: 'v6' },
    { name: 'IPv6 outside', flow: flow(1, { src: '2001:db8:10::1', dst: '2600::1', dstPort: 80 }), want: 'default' },
    { name: 'source 10.10.1.x', flow: flow(251, { dst: '203.0.113.1' }), want: 'office' },
    { name: 'ICMPv6', flow: flow(1, { protocol: 58, src: '2600::2', dst: '2600::1' }), want: 'ping' },
    { name: 'ICMP', flow: flow(1, { protocol: 1, dst: '8.8.8.8' }), want: 'ping' },
    { name: 'DSCP 34', flow: flow(1, { dst: '8.8.8.8', dscp: 34 }), want: 'video' },
    { name: 'every criterion of odd', flow: flow(1, { dst: '198.51.100.127', dstPort: 80, dscp: 10 }), want: 'odd' },
    { name: 'odd but one DSCP off', flow: flow(1, { dst: '198.51.100.127', dstPort: 80, dscp: 12 }), want: 'default' },
    { name: 'odd but the prefix ends at .127', flow: flow(1, { dst: '198.51.100.128', dstPort: 80, dscp: 10 }), want: 'default' },
  ];
  await both(t, 'classes', (t, make) => {
    for (const c of cases) {
      // A fresh selector per case: a flow keeps the class of its first packet.
      const s = make(policyOf(classes));
      s.setPaths([path(1, 'isp-a')]);
      const got = s.decide(c.flow, 0).class;
      t.equal(got, c.want, `${c.name}: got class ${got}; want ${c.want}`);
    }
    const s = make(policyOf(classes));
    s.decide(flow(1, { dst: '198.51.100.1', dstPort: 80, dscp: 10 }), 0);
    const later = s.decide(flow(1, { dst: '198.51.100.1', dstPort: 80, dscp: 0 }), 1).class;
    t.equal(later, 'odd', `a later packet with another DSCP: got class ${later}; want odd (classified once)`);
  });
});

t.test('mode best: ranking of paths for a new flow', async (t) => {
  const sla = { maxLossPct: 2, maxLatencyMs: 100, maxJitterMs: 20, minMos: 3.8 };
  const cases: Array<{ name: string; paths: PathInput[]; preferWans?: string[]; want: number }> = [
    { name: 'lower score', paths: [path(1, 'a', { latencyMs: 30 }), path(2, 'b', { latencyMs: 10 })], want: 2 },
    { name: 'jitter counts twice', paths: [path(1, 'a', { latencyMs: 30, jitterMs: 1 }), path(2, 'b', { latencyMs: 10, jitterMs: 12 })], want: 1 },
    { name: 'never down while another is not', paths: [path(1, 'a', { state: 'down', latencyMs: 1 }), path(2, 'b', { lossPct: 50 })], want: 2 },
    { name: 'meeting the SLA beats a better score', paths: [path(1, 'a', { latencyMs: 90 }), path(2, 'b', { latencyMs: 5, lossPct: 2.5 })], want: 1 },
    { name: 'MOS below minMos breaks the SLA', paths: [path(1, 'a', { latencyMs: 5, mos: 3.7 }), path(2, 'b', { latencyMs: 90 })], want: 2 },
    { name: 'preferWans beats score', paths: [path(1, 'a', { latencyMs: 10 }), path(2, 'b', { latencyMs: 80 })], preferWans: ['b', 'a'], want: 2 },
    { name: 'unlisted WANs after listed ones', paths: [path(1, 'a', { latencyMs: 10 }), path(2, 'b', { latencyMs: 80 })], preferWans: ['b'], want: 2 },
    { name: 'preferWans only among paths meeting the SLA', paths: [path(1, 'a', { latencyMs: 10 }), path(2, 'b', { latencyMs: 180 })], preferWans: ['b'], want: 1 },
    { name: 'lower cost beats score', paths: [path(1, 'a', { latencyMs: 10, cost: 50 }), path(2, 'b', { latencyMs: 80 })], want: 2 },
    { name: 'up before degraded', paths: [path(1, 'a', { latencyMs: 10, state: 'degraded' }), path(2, 'b', { latencyMs: 80 })], want: 2 },
    { name: 'metered only when nothing unmetered meets the SLA', paths: [path(1, 'lte', { latencyMs: 10, metered: true }), path(2, 'b', { latencyMs: 80 })], want: 2 },
    { name: 'metered when the rest breaks the SLA', paths: [path(1, 'lte', { latencyMs: 60, metered: true }), path(2, 'b', { latencyMs: 8, lossPct: 5 })], want: 1 },
    // Penalties: a: 20 x 3 = 60; b: 150 - 100 = 50.
    { name: 'least bad by penalty', paths: [path(1, 'a', { lossPct: 5 }), path(2, 'b', { latencyMs: 150 })], want: 2 },
    { name: 'least bad among down paths', paths: [path(1, 'a', { state: 'down', lossPct: 5 }), path(2, 'b', { state: 'down', latencyMs: 150 })], want: 2 },
    { name: 'equal in everything: lower id', paths: [path(9, 'a'), path(3, 'b'), path(4294967295, 'c')], want: 3 },
    { name: 'no paths', paths: [], want: NO_PATH },
  ];
  await both(t, 'best', (t, make) => {
    for (const c of cases) {
      const s = make(policyOf([], { sla, preferWans: c.preferWans ?? [] }));
      s.setPaths(c.paths);
      const got = s.decide(flow(1), 0);
      t.equal(got.pathId, c.want, `${c.name}: got path ${got.pathId}; want ${c.want}`);
    }
  });
});

t.test('mode best: hysteresis steers new flows only past hysteresisPct', async (t) => {
  // a scores 20 + 2 = 22; with 20 % hysteresis b must score under 17.6.
  const cases = [
    { name: 'b 10 % better: stay on a', bLatency: 17.8, want: 1 },
    { name: 'b exactly at the threshold: stay on a', bLatency: 15.6, want: 1 },
    { name: 'b 30 % better: switch to b', bLatency: 13.4, want: 2 },
  ];
  await both(t, 'hysteresis', (t, make) => {
    for (const c of cases) {
      const s = make(policyOf([], { hysteresisPct: 20 }));
      s.setPaths([path(1, 'a'), path(2, 'b', { latencyMs: 40 })]);
      const first = s.decide(flow(1), 0);
      t.equal(first.pathId, 1, `${c.name}: first flow: got ${first.pathId}; want 1`);
      s.setPaths([path(1, 'a'), path(2, 'b', { latencyMs: c.bLatency })]);
      const got = s.decide(flow(2), 1);
      t.equal(got.pathId, c.want, `${c.name}: new flow: got ${got.pathId}; want ${c.want}`);
      const old = s.decide(flow(1), 2);
      t.same(old, { pathId: 1, class: 'default', moved: false }, `${c.name}: first flow stays: got ${JSON.stringify(old)}`);
    }
    // The preferred path left the set and came back: it is preferred no more.
    const s = make(policyOf([], { hysteresisPct: 100 }));
    s.setPaths([path(1, 'a'), path(2, 'b', { latencyMs: 40 })]);
    s.decide(flow(1), 0);
    s.setPaths([path(2, 'b', { latencyMs: 40 })]);
    s.setPaths([path(1, 'a', { latencyMs: 30 }), path(2, 'b', { latencyMs: 25 })]);
    s.decide(flow(3), 1);
    const got = s.decide(flow(4), 2);
    t.equal(got.pathId, 2, `preferred path removed and re-added: got ${got.pathId}; want 2 (ranking starts over)`);
  });
});

t.test('stickiness: a flow stays while healthy and moves at once when not', async (t) => {
  const sla = { maxLossPct: 2, maxLatencyMs: 100 };
  await both(t, 'sticky', (t, make) => {
    const s = make(policyOf([], { sla, hysteresisPct: 20, holdMs: 10_000 }));
    s.setPaths([path(1, 'a', { latencyMs: 20 }), path(2, 'b', { latencyMs: 30 })]);
    t.equal(s.decide(flow(1), 0).pathId, 1, 'new flow on a');
    // b much better, a still meets the SLA: no move, not even by resteer.
    s.setPaths([path(1, 'a', { latencyMs: 95 }), path(2, 'b', { latencyMs: 1 })]);
    t.same(s.decide(flow(1), 100), { pathId: 1, class: 'default', moved: false }, 'healthy path kept');
    t.same(s.resteer(100), [], 'resteer leaves healthy flows alone');
    // a breaks the SLA: the next packet moves.
    s.setPaths([path(1, 'a', { latencyMs: 101 }), path(2, 'b', { latencyMs: 1 })]);
    t.same(s.decide(flow(1), 200), { pathId: 2, class: 'default', moved: true }, 'SLA break moves on the next packet');
    t.same(s.decide(flow(1), 300), { pathId: 2, class: 'default', moved: false }, 'moved only once');
    // a recovers but is held for 10 s after flows left it.
    s.setPaths([path(1, 'a', { latencyMs: 1 }), path(2, 'b', { latencyMs: 50 })]);
    t.equal(s.decide(flow(2), 10_199).pathId, 2, 'held path avoided until the hold ends');
    t.equal(s.decide(flow(3), 10_200).pathId, 1, 'hold over at 200 + 10000 ms');
  });
  await both(t, 'resteer', (t, make) => {
    const s = make(policyOf([], { sla }));
    s.setPaths([path(1, 'a'), path(2, 'b', { latencyMs: 40 }), path(3, 'c', { latencyMs: 60 })]);
    for (let i = 0; i < 3; i++) s.decide(flow(i), i);
    const moves = s.resteer(10);
    t.same(moves, [], 'nothing to move');
    s.setPaths([path(1, 'a', { state: 'down' }), path(2, 'b', { latencyMs: 40 }), path(3, 'c', { latencyMs: 60 })]);
    const got = s.resteer(20).map((m) => `${m.flow.srcPort}:${m.from}->${m.to}`);
    t.same(got, ['40000:1->2', '40001:1->2', '40002:1->2'], `down: got ${got.join(' ')}; want all three to b, oldest first`);
    s.setPaths([path(3, 'c', { latencyMs: 60 })]);
    const gone = s.resteer(30).map((m) => `${m.from}->${m.to}`);
    t.same(gone, ['2->3', '2->3', '2->3'], `path left the set: got ${gone.join(' ')}`);
    s.setPaths([]);
    const none = s.resteer(40).map((m) => `${m.from}->${m.to}`);
    t.same(none, ['3->0', '3->0', '3->0'], `no paths left: got ${none.join(' ')}`);
  });
  await both(t, 'least bad', (t, make) => {
    // Nothing meets the SLA: a flow moves only for a penalty lower by more than the hysteresis.
    const s = make(policyOf([], { sla: { maxLossPct: 1 }, hysteresisPct: 50 }));
    s.setPaths([path(1, 'a', { lossPct: 3 }), path(2, 'b', { lossPct: 5 })]);
    t.equal(s.decide(flow(1), 0).pathId, 1, 'least bad: a');
    // Penalties a = 20 x 4 = 80, b = 20 x 2.5 = 30 < 40: move.
    s.setPaths([path(1, 'a', { lossPct: 5 }), path(2, 'b', { lossPct: 3.5 })]);
    t.same(s.resteer(1).map((m) => m.to), [], 'b 37.5 % less bad: stay');
    s.setPaths([path(1, 'a', { lossPct: 5 }), path(2, 'b', { lossPct: 2.5 })]);
    t.same(s.resteer(2).map((m) => m.to), [2], 'b 62 % less bad: move');
    s.setPaths([path(1, 'a', { lossPct: 0.5 }), path(2, 'b', { state: 'down' })]);
    t.same(s.decide(flow(1), 3), { pathId: 1, class: 'default', moved: true }, 'down: back to a, which meets the SLA');
    // b ranks first among down paths (penalty 0 against 80), but a move
    // between down paths gains nothing.
    s.setPaths([path(1, 'a', { state: 'down', lossPct: 5 }), path(2, 'b', { state: 'down' })]);
    t.same(s.resteer(4), [], 'everything down: no move between down paths');
    t.equal(s.decide(flow(2), 5).pathId, 2, 'everything down: a new flow gets the least bad');
  });
});

t.test('mode weighted: flows split by weight, deterministically', async (t) => {
  await both(t, 'weighted', (t, make) => {
    const s = make(policyOf([], { mode: 'weighted', weights: { 'isp-a': 3, 'isp-b': 1 } }));
    s.setPaths([path(1, 'isp-a'), path(2, 'isp-b'), path(3, 'lte')]);
    const counts = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const p = s.decide(flow(i), i).pathId;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    const a = counts.get(1) ?? 0;
    t.ok(a >= 700 && a <= 800, `isp-a share of 1000 flows: got ${a}; want 750 +- 50`);
    t.equal(counts.get(3) ?? 0, 0, `lte (no weight) flows: got ${counts.get(3) ?? 0}; want 0`);
    t.equal(a + (counts.get(2) ?? 0), 1000, 'every flow on isp-a or isp-b');
    // The same flow in a fresh selector gets the same path.
    const again = make(policyOf([], { mode: 'weighted', weights: { 'isp-a': 3, 'isp-b': 1 } }));
    again.setPaths([path(1, 'isp-a'), path(2, 'isp-b'), path(3, 'lte')]);
    for (let i = 0; i < 50; i++) {
      t.equal(again.decide(flow(i), 0).pathId, s.decide(flow(i), 2000).pathId, `flow ${i}: same path in another selector`);
    }
    // Weighted paths broken: the best tier with any weight, then the top-ranked path.
    const down = make(policyOf([], { mode: 'weighted', weights: { 'isp-a': 3 } }));
    down.setPaths([path(1, 'isp-a', { state: 'down' }), path(2, 'isp-b', { latencyMs: 50 }), path(3, 'lte', { latencyMs: 40 })]);
    t.equal(down.decide(flow(1), 0).pathId, 3, 'no weight anywhere usable: top-ranked path');
  });
});

t.test('mode affinity: one host pair, one path', async (t) => {
  await both(t, 'affinity', (t, make) => {
    const s = make(policyOf([], { mode: 'affinity' }));
    s.setPaths([path(1, 'isp-a'), path(2, 'isp-b')]);
    const used = new Set<number>();
    for (let host = 0; host < 100; host++) {
      const paths = new Set<number>();
      for (const [protocol, port] of [[6, 443], [6, 80], [17, 53], [1, 0]] as const) {
        paths.add(s.decide(flow(host, { protocol, dstPort: port, srcPort: 1000 + port }), host).pathId);
      }
      t.equal(paths.size, 1, `host ${host}: flows to one destination on ${paths.size} paths; want 1`);
      used.add([...paths][0]!);
    }
    t.equal(used.size, 2, `100 hosts spread over ${used.size} paths; want 2`);
  });
});

t.test('mode spray: packets go round the paths by weight', async (t) => {
  await both(t, 'spray', (t, make) => {
    const s = make(policyOf([], { mode: 'spray', weights: { a: 2, b: 1 } }));
    s.setPaths([path(7, 'a'), path(9, 'b')]);
    const seq = [];
    for (let i = 0; i < 6; i++) {
      const d = s.decide(flow(1), i);
      t.equal(d.moved, false, `packet ${i}: spray never reports a move`);
      seq.push(d.pathId);
    }
    t.same(seq, [7, 7, 9, 7, 7, 9], `paths of six packets: got ${seq.join(',')}; want 7,7,9,7,7,9`);
    s.setPaths([path(7, 'a', { state: 'down' }), path(9, 'b')]);
    t.same(s.resteer(10), [], 'resteer leaves spray flows out');
    t.equal(s.decide(flow(1), 11).pathId, 9, 'next packet avoids the down path');
  });
});

t.test('flow table: LRU eviction, idle expiry, time never goes back', async (t) => {
  await both(t, 'table', (t, make) => {
    const s = make(policyOf([], {}, { max: 3, idleTimeoutMs: 1000 }));
    s.setPaths([path(1, 'a')]);
    const counts = (): number[] => { const st = s.stats(); return [st.flows, st.newFlows, st.evictions, st.expirations]; };
    s.decide(flow(1), 0);
    s.decide(flow(2), 10);
    s.decide(flow(3), 20);
    s.decide(flow(1), 30); // 1 is now the most recent; 2 the least
    s.decide(flow(4), 40); // evicts 2
    t.same(counts(), [3, 4, 1, 0], `after flow 4 (flows, new, evictions, expirations): got ${counts()}`);
    s.decide(flow(2), 50); // back as new; evicts 3. Table: 1 (30), 4 (40), 2 (50)
    t.same(counts(), [3, 5, 2, 0], `after flow 2 returns: got ${counts()}`);
    s.decide(flow(1), 5); // an earlier time counts as the latest (50)
    s.decide(flow(1), 1010); // idle 960 ms since 50, not 1005 since 5: the same flow
    t.same(counts(), [3, 5, 2, 0], `flow 1 at 5 then 1010 ms: got ${counts()}; want no new flow`);
    t.equal(s.expire(1039), 0, 'nothing idle for 1000 ms at 1039');
    t.equal(s.expire(1050), 2, 'flows 4 (40) and 2 (50) idle at 1050');
    s.decide(flow(2), 2010); // expired: new
    s.decide(flow(1), 2010); // idle 1000 ms but still in the table: starts anew
    t.same(counts(), [2, 7, 2, 3], `after idle flows return: got ${counts()}`);
  });
});

t.test('counters by class and path', async (t) => {
  await both(t, 'stats', (t, make) => {
    const s = make(policyOf([{ name: 'dns', match: { protocols: [17], ports: [[53, 53]] }, ...steering() }]));
    s.setPaths([path(1, 'a'), path(2, 'b', { latencyMs: 50 })]);
    s.decide(flow(1, { protocol: 17, dstPort: 53, bytes: 80 }), 0);
    s.decide(flow(1, { protocol: 17, dstPort: 53, bytes: 120 }), 1);
    s.decide(flow(2, { bytes: 1500 }), 2);
    s.setPaths([path(1, 'a', { state: 'down' }), path(2, 'b', { latencyMs: 50 })]);
    s.resteer(3);
    const st = s.stats();
    t.same(st.classes, [
      { name: 'dns', flows: 1, newFlows: 1, packets: 2, bytes: 200, moves: 1 },
      { name: 'default', flows: 1, newFlows: 1, packets: 1, bytes: 1500, moves: 1 },
    ], `classes: got ${JSON.stringify(st.classes)}`);
    t.same(st.paths, [
      { id: 1, wan: 'a', flows: 0, newFlows: 2, packets: 3, bytes: 1700 },
      { id: 2, wan: 'b', flows: 2, newFlows: 0, packets: 0, bytes: 0 },
    ], `paths: got ${JSON.stringify(st.paths)}`);
    t.same([st.decisions, st.moves], [3, 2], `decisions, moves: got ${[st.decisions, st.moves]}`);
  });
});

t.test('decideBatch answers as decide does, and refuses a bad batch whole', async (t) => {
  await both(t, 'batch', (t, make) => {
    const s = make(policyOf([{ name: 'web', match: { ports: [[443, 443]] }, ...steering() }]));
    s.setPaths([path(1, 'a'), path(2, 'b')]);
    const records = encodeFlows([flow(1), flow(2, { dstPort: 80 }), flow(1)]);
    const out = s.decideBatch(records, 5);
    const got = [0, 1, 2].map((i) => readDecision(out, i * 8));
    t.same(got, [
      { pathId: 1, classIndex: 0, moved: false },
      { pathId: 1, classIndex: 1, moved: false },
      { pathId: 1, classIndex: 0, moved: false },
    ], `decisions: got ${JSON.stringify(got)}`);
    const bad = Buffer.concat([encodeFlows([flow(7)]), Buffer.alloc(48)]);
    t.throws(() => s.decideBatch(bad, 6), /flows: record 1: family: expected 4 or 6; got 0/, 'record 1 refused');
    t.throws(() => s.decideBatch(Buffer.alloc(47), 6), /flows: expected a multiple of 48 bytes; got 47/, 'partial record refused');
    t.throws(() => s.decide(flow(1), -1), /nowMs: expected a finite number >= 0; got -1/, 'negative time refused');
    t.equal(s.stats().decisions, 3, 'refused input decided nothing');
    t.throws(() => s.setPaths([path(1, 'a'), path(1, 'b')]), /paths\[1\]\.id: expected a unique path id; got 1 again/, 'duplicate path id refused');
    t.equal(s.stats().paths.length, 2, 'refused path list leaves the old one');
  });
});

t.test('hashes are pinned (the same constants as native/src/flow.rs)', async (t) => {
  const cases: Array<[string, number]> = [['', 0xab3e7c0b], ['a', 0x1a80b1b3], ['tern', 0x9601d6fa]];
  for (const [input, want] of cases) {
    const got = mixHash(Buffer.from(input));
    t.equal(got, want, `mixHash(${JSON.stringify(input)}): got 0x${got.toString(16)}; want 0x${want.toString(16)}`);
  }
  const key = encodeFlows([flow(3)]).subarray(0, 38);
  const other = encodeFlows([flow(3, { srcPort: 1, protocol: 17 })]).subarray(0, 38);
  t.not(flowHash(key), flowHash(other), 'flowHash depends on ports and protocol');
  t.equal(pairHash(key), pairHash(other), 'pairHash depends on the addresses only');
});
