import t from 'tap';
import { isTernError } from '../lib/errors.js';
import { lossRatios } from '../lib/history/loss.js';
import { JitterEstimator, MetricsWindow, mos } from './metrics.js';

const near = (got: number | null, want: number, eps = 1e-3): boolean => got !== null && Math.abs(got - want) < eps;

t.test('jitter follows RFC 3550: J += (|D| - J) / 16 in arrival order', async (t) => {
  const j = new JitterEstimator();
  const transits = [10, 20, 10, 20, 20];
  const want = [0, 0.625, 0.625 + (10 - 0.625) / 16];
  want.push(want[2]! + (10 - want[2]!) / 16);
  want.push(want[3]! + (0 - want[3]!) / 16);
  transits.forEach((x, i) => {
    const got = j.add(x);
    t.ok(near(got, want[i]!, 1e-12), `after transit #${i} (${x} ms): got J ${got}; want ${want[i]}`);
  });
});

t.test('MOS from the simplified E-model with one-way latency = RTT/2', async (t) => {
  // Expected values worked by hand from the formula in metrics.ts.
  const cases: Array<{ name: string; rttMs: number; jitterMs: number; lossPct: number; want: number }> = [
    { name: 'clean 20 ms path', rttMs: 20, jitterMs: 0, lossPct: 0, want: 4.3991 },          // R 92.7
    { name: '300 ms RTT sits on the 160 ms knee', rttMs: 300, jitterMs: 0, lossPct: 0, want: 4.3189 }, // EffLat 160, R 89.2
    { name: '400 ms RTT past the knee', rttMs: 400, jitterMs: 0, lossPct: 0, want: 4.1724 },  // R 84.2
    { name: '2 % loss, 5 ms jitter', rttMs: 20, jitterMs: 5, lossPct: 2, want: 4.2716 },     // R 87.45
    { name: 'total loss', rttMs: 20, jitterMs: 0, lossPct: 100, want: 1 },                   // R clamped to 0
  ];
  for (const c of cases) {
    const got = mos(c);
    t.ok(near(got, c.want), `${c.name}: got MOS ${got.toFixed(4)}; want ${c.want}`);
  }
  t.ok(mos({ rttMs: 20, jitterMs: 0, lossPct: 0 }) > 4.39, 'a clean path must score about 4.4');
});

t.test('loss ratios: a ratio of sums, per direction over what reached that leg', async (t) => {
  const cases: Array<{ name: string; args: [number, number, number, number]; want: [number | null, number | null, number | null] }> = [
    { name: '10 % each way', args: [100, 19, 10, 9], want: [19, 10, 10] },
    { name: 'all losses of unknown direction', args: [100, 10, 0, 0], want: [10, 0, 0] },
    { name: 'forward blackhole: reverse unmeasurable', args: [10, 10, 10, 0], want: [100, 100, null] },
    { name: 'nothing sent', args: [0, 0, 0, 0], want: [null, null, null] },
    { name: 'half unknown', args: [100, 20, 5, 5], want: [20, 5 / 90 * 100, 5 / 85 * 100] },
  ];
  for (const c of cases) {
    const r = lossRatios(...c.args);
    const got = [r.lossPct, r.lossFwdPct, r.lossRevPct];
    const ok = got.every((g, i) => (c.want[i] === null ? g === null : near(g, c.want[i]!, 1e-9)));
    t.ok(ok, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

interface Ev { n: number; ans?: number; r?: number }

/** Feed probes sent every 200 ms: ans = RTT when answered; r = reflector seq. */
function feed(w: MetricsWindow, evs: Ev[], jitter = 1): void {
  for (const e of evs) {
    if (e.ans === undefined) w.lost({ seq: e.n, sentMono: e.n * 200 });
    else w.answered({ seq: e.n, sentMono: e.n * 200, rttMs: e.ans, jitterMs: jitter, reflectorSeq: e.r });
  }
}

t.test('window: RTT statistics, loss and direction', async (t) => {
  const w = new MetricsWindow({ windowSec: 10 });
  // n2 lost forward (reflector never counted it), n5 lost on the way back (counted as r=4).
  feed(w, [
    { n: 0, ans: 10, r: 0 }, { n: 1, ans: 20, r: 1 }, { n: 2 }, { n: 3, ans: 30, r: 2 }, { n: 4, ans: 40, r: 3 },
    { n: 5 }, { n: 6, ans: 10, r: 5 }, { n: 7, ans: 20, r: 6 }, { n: 8, ans: 30, r: 7 }, { n: 9, ans: 40, r: 8 },
  ]);
  const m = w.snapshot(2000);
  const checks: Array<[string, number | null, number]> = [
    ['probes', m.probes, 10], ['answered', m.answered, 8], ['lost', m.lost, 2], ['lostFwd', m.lostFwd, 1],
    ['lostRev', m.lostRev, 1], ['lostUnknown', m.lostUnknown, 0], ['lossPct', m.lossPct, 20], ['lossFwdPct', m.lossFwdPct, 10],
    ['lossRevPct', m.lossRevPct, 100 / 9], ['rttMinMs', m.rttMinMs, 10], ['rttMs', m.rttMs, 25], ['rttMaxMs', m.rttMaxMs, 40],
    ['rttStddevMs', m.rttStddevMs, Math.sqrt(125)], ['jitterMs', m.jitterMs, 1],
  ];
  for (const [name, got, want] of checks) t.ok(near(got, want, 1e-9), `${name}: got ${got}; want ${want}`);
  t.ok(m.mos !== null && m.mos < mos({ rttMs: 25, jitterMs: 1, lossPct: 0 }), `got MOS ${m.mos}; want it lowered by the 20 % loss`);
});

t.test('window: direction edge cases', async (t) => {
  const cases: Array<{ name: string; evs: Ev[]; want: { fwd: number; rev: number; unknown: number } }> = [
    {
      name: 'losses after the last answer are unknown',
      evs: [{ n: 0, ans: 5, r: 0 }, { n: 1 }, { n: 2 }],
      want: { fwd: 0, rev: 0, unknown: 2 },
    },
    {
      name: 'mixed gap: counts right, forward labelled first',
      evs: [{ n: 0, ans: 5, r: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4, ans: 5, r: 2 }],
      want: { fwd: 2, rev: 1, unknown: 0 },
    },
    {
      name: 'reflector counter went back (restart): unknown, not misattributed',
      evs: [{ n: 0, ans: 5, r: 40 }, { n: 1 }, { n: 2, ans: 5, r: 0 }],
      want: { fwd: 0, rev: 0, unknown: 1 },
    },
    {
      name: 'no reflector counter (ICMP): unknown',
      evs: [{ n: 0, ans: 5 }, { n: 1 }, { n: 2, ans: 5 }],
      want: { fwd: 0, rev: 0, unknown: 1 },
    },
    {
      name: 'losses before the first answer use the virtual anchor (counter from 0)',
      evs: [{ n: 0 }, { n: 1 }, { n: 2, ans: 5, r: 1 }],
      want: { fwd: 1, rev: 1, unknown: 0 },
    },
    {
      name: 'a late answer replaces the loss',
      evs: [{ n: 0, ans: 5, r: 0 }, { n: 1 }, { n: 2, ans: 5, r: 2 }, { n: 1, ans: 700, r: 1 }],
      want: { fwd: 0, rev: 0, unknown: 0 },
    },
  ];
  for (const c of cases) {
    const w = new MetricsWindow({ windowSec: 10 });
    feed(w, c.evs);
    const m = w.snapshot(1000);
    const got = { fwd: m.lostFwd, rev: m.lostRev, unknown: m.lostUnknown };
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('window slides by send time and keeps the anchor of pruned answers', async (t) => {
  const w = new MetricsWindow({ windowSec: 1 });
  // n0 answered (r0) at 0 ms; n1-n3 lost forward; n4 answered with r1 at 800 ms.
  feed(w, [{ n: 0, ans: 5, r: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4, ans: 5, r: 1 }]);
  const at1000 = w.snapshot(1000);
  t.equal(at1000.probes, 4, `got ${at1000.probes} probes at 1000 ms; want 4 (n0 sent at 0 left the window)`);
  t.equal(at1000.lostFwd, 3, `got lostFwd ${at1000.lostFwd}; want 3 (gap from the pruned n0 anchor)`);
  const later = w.snapshot(5000);
  t.equal(later.probes, 0, `got ${later.probes} probes at 5000 ms; want 0`);
  t.equal(later.lossPct, null, `got lossPct ${later.lossPct}; want null on an empty window`);
  t.equal(later.mos, null, `got MOS ${later.mos}; want null on an empty window`);
  w.lost({ seq: 2, sentMono: 400 });
  t.equal(w.snapshot(5000).probes, 0, 'an event for a probe that already left the window must be ignored');
});

t.test('bad window size throws TERN_E_PROBE_ARG', async (t) => {
  for (const windowSec of [0, -1, Number.NaN, 1e6]) {
    let err: unknown;
    try { new MetricsWindow({ windowSec }); } catch (e) { err = e; }
    t.ok(isTernError(err, 'TERN_E_PROBE_ARG'), `windowSec ${windowSec}: got ${String(err)}; want TERN_E_PROBE_ARG`);
  }
});
