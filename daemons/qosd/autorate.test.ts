// Autorate's rules one by one, then against a simulated link whose real
// rate drops and comes back: it must settle below the new rate and recover
// within a bounded number of steps.
import t from 'tap';
import { LatencyMonitor, RateController, ThroughputMeter, type RateSettings } from './autorate.js';

const M = 1e6;
const base: RateSettings = { minBps: 5 * M, maxBps: 50 * M, baseBps: 50 * M, latencyTargetMs: 15, refractoryMs: 1000 };

t.test('the rules, step by step', async (t) => {
  const cases: Array<{ name: string; start: number; now: number; delta: number | null; achieved: number | null; want: { rateBps: number; reason?: string; hold?: string } }> = [
    { name: 'bufferbloat while sending: cut to 0.9 × what got through', start: 50 * M, now: 10_000, delta: 80, achieved: 20 * M, want: { rateBps: 18 * M, reason: 'bufferbloat' } },
    { name: 'bufferbloat, achieved above the rate: cut to 0.9 × the rate', start: 30 * M, now: 10_000, delta: 80, achieved: 31 * M, want: { rateBps: 27 * M, reason: 'bufferbloat' } },
    { name: 'bufferbloat while idle is not ours: hold', start: 50 * M, now: 10_000, delta: 80, achieved: 1 * M, want: { rateBps: 50 * M, hold: 'idle-bloat' } },
    { name: 'loaded with good latency: raise 4 %', start: 20 * M, now: 10_000, delta: 2, achieved: 19 * M, want: { rateBps: 20.8 * M, reason: 'load' } },
    { name: 'raise stops at the maximum', start: 49 * M, now: 10_000, delta: 2, achieved: 48 * M, want: { rateBps: 50 * M, reason: 'load' } },
    { name: 'at the maximum: nothing to do', start: 50 * M, now: 10_000, delta: 2, achieved: 48 * M, want: { rateBps: 50 * M, hold: 'bound' } },
    { name: 'cut stops at the minimum', start: 6 * M, now: 10_000, delta: 80, achieved: 3 * M, want: { rateBps: 5 * M, reason: 'bufferbloat' } },
    { name: 'idle below the base: drift up 1 %', start: 20 * M, now: 10_000, delta: 1, achieved: 0.5 * M, want: { rateBps: 20.2 * M, reason: 'decay' } },
    { name: 'idle at the base: steady', start: 50 * M, now: 10_000, delta: 1, achieved: 0.5 * M, want: { rateBps: 50 * M, hold: 'steady' } },
    { name: 'no fresh latency: hold', start: 20 * M, now: 10_000, delta: null, achieved: 19 * M, want: { rateBps: 20 * M, hold: 'no-latency' } },
    { name: 'no throughput reading: hold', start: 20 * M, now: 10_000, delta: 50, achieved: null, want: { rateBps: 20 * M, hold: 'no-throughput' } },
  ];
  for (const c of cases) {
    const r = new RateController(base, c.start);
    const d = r.step(c.now, c.delta, c.achieved);
    t.match(d, c.want, `${c.name}: got ${JSON.stringify(d)}; want ${JSON.stringify(c.want)}`);
    t.equal(r.rateBps, c.want.rateBps);
  }
});

t.test('after a cut, nothing changes until the refractory time has passed', async (t) => {
  const r = new RateController(base, 50 * M);
  t.match(r.step(1000, 80, 20 * M), { reason: 'bufferbloat', rateBps: 18 * M });
  t.match(r.step(1500, 80, 18 * M), { hold: 'refractory' }, 'the queue has not drained yet');
  t.match(r.step(1900, 1, 18 * M), { hold: 'refractory' }, 'no raise either');
  t.match(r.step(2000, 1, 17 * M), { reason: 'load' });
});

t.test('bad settings are refused', async (t) => {
  t.throws(() => new RateController({ ...base, minBps: 60 * M }), { code: 'TERN_E_QOS_INPUT' });
  t.throws(() => new RateController({ ...base, baseBps: 80 * M }), { code: 'TERN_E_QOS_INPUT' });
  t.throws(() => new RateController({ ...base, downFactor: 1.2 }), { code: 'TERN_E_QOS_INPUT' });
  t.equal(new RateController(base, 500 * M).rateBps, 50 * M, 'a start outside the bounds is clamped');
});

/**
 * A link of rate `isp` with a 100 ms buffer behind our shaper: what our
 * shaper sends above isp queues there; latency rises by queue / isp. TCP
 * keeps the shaper full (achieved = min(rate, isp)).
 */
function simulate(steps: Array<{ isp: number; n: number }>, stepMs = 250): { rates: number[]; changes: number } {
  const r = new RateController({ ...base, refractoryMs: 1500 }, 50 * M);
  const mon = new LatencyMonitor({ staleMs: 3000 });
  let queueBits = 0;
  let now = 0;
  let changes = 0;
  const rates: number[] = [];
  for (const phase of steps) {
    for (let i = 0; i < phase.n; i++) {
      now += stepMs;
      const offered = r.rateBps;
      // Two probes per step (probed at 8/s, steps of 250 ms), each seeing the queue of its moment.
      for (const half of [0.5, 1]) {
        queueBits = Math.min(phase.isp * 0.1, Math.max(0, queueBits + ((offered - phase.isp) * stepMs * 0.5) / 1000));
        mon.add({ rttMs: 20 + (queueBits / phase.isp) * 1000, ts: now - stepMs + half * stepMs });
      }
      const reading = mon.take(now);
      const d = r.step(now, reading?.deltaMs ?? null, Math.min(offered, phase.isp));
      if (d.reason) changes++;
      rates.push(r.rateBps);
    }
  }
  return { rates, changes };
}

t.test('a link that drops from 50 to 20 Mbit/s: settled below 20 within 8 steps, recovered within 40 after it returns', async (t) => {
  const { rates } = simulate([{ isp: 50 * M, n: 40 }, { isp: 20 * M, n: 80 }, { isp: 50 * M, n: 80 }]);
  t.ok(rates.slice(0, 40).every((x) => x === 50 * M), 'at 50 the shaper stays at its maximum');
  const low = rates.slice(40, 120);
  const firstBelow = low.findIndex((x) => x < 20 * M);
  t.ok(firstBelow >= 0 && firstBelow < 8, `got below 20 after ${firstBelow + 1} steps; want within 8`);
  const settled = low.slice(20);
  const avg = settled.reduce((s, x) => s + x, 0) / settled.length;
  t.ok(avg < 20 * M && avg > 15 * M, `settled average: got ${(avg / M).toFixed(2)} Mbit/s; want just below 20`);
  t.ok(Math.max(...settled) < 22 * M, `settled peak: got ${(Math.max(...settled) / M).toFixed(2)}; want probes of at most 10 % above 20`);
  const high = rates.slice(120);
  const back = high.findIndex((x) => x >= 45 * M);
  t.ok(back >= 0 && back < 40, `got back to 45 Mbit/s after ${back + 1} steps; want within 40`);
});

t.test('the latency monitor: median per step, a baseline that follows drops at once and rises slowly, stale samples ignored', async (t) => {
  const m = new LatencyMonitor({ staleMs: 1000 });
  t.equal(m.take(0), null, 'nothing yet');
  m.add({ rttMs: 20, ts: 100 });
  m.add({ rttMs: 30, ts: 200 });
  m.add({ rttMs: 100, ts: 300 });
  m.add({ rttMs: 100, ts: 300 });
  t.match(m.take(400), { rttMs: 30, samples: 3 }, 'median of three; a repeated timestamp counted once');
  t.equal(m.take(500), null, 'each sample is used once');
  t.ok(m.baselineMs! > 20 && m.baselineMs! < 20.2, `baseline after higher samples: got ${m.baselineMs}; want barely above 20`);
  m.add({ rttMs: 10, ts: 600 });
  t.ok(m.baselineMs! < 11.1, `baseline after a lower sample: got ${m.baselineMs}; want close to 10`);
  m.add({ rttMs: 12, ts: 700, rttBaselineMs: 9 });
  t.equal(m.baselineMs, 9, 'probed\'s baseline, when it sends one, wins');
  m.add({ rttMs: 50, ts: 800 });
  t.equal(m.take(5000), null, 'samples older than staleMs say nothing');
  t.equal(m.ageMs(5000), 4200);
});

t.test('bufferbloat needs 3 of the last 6 samples delayed: a lone spike is not a queue', async (t) => {
  const m = new LatencyMonitor({ staleMs: 10_000 });
  let ts = 0;
  const feed = (...rtts: number[]): number => {
    for (const r of rtts) m.add({ rttMs: r, ts: (ts += 100) });
    return m.take(ts)!.deltaMs;
  };
  t.equal(feed(10, 10, 10, 10), 0, 'idle');
  t.ok(feed(90) < 1, 'one late reply: no delay to act on');
  t.ok(feed(10, 85) < 1, 'two late replies in six: still none');
  t.ok(feed(80) > 60, 'a third: the queue is real');
  t.ok(feed(10, 10, 10) < 1, 'three good replies push the old ones out of the window');
});

t.test('throughput from byte counters; a reset counter gives no reading', async (t) => {
  const m = new ThroughputMeter();
  t.equal(m.sample(1000, 0), null);
  t.equal(m.sample(126000, 1000), 1e6, '125000 bytes in 1 s = 1 Mbit/s');
  t.equal(m.sample(5, 2000), null, 'counter went down: the qdisc was recreated');
  t.equal(m.sample(null, 3000), null);
});
