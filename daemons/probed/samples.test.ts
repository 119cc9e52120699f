import t from 'tap';
import { SampleAggregator, type ProbeSample } from './samples.js';
import type { FinalProbe } from './session.js';

const T0 = Date.UTC(2026, 0, 1);

const answered = (seq: number, at: number, rttMs: number, jitterMs: number): FinalProbe =>
  ({ seq, sentAt: at, sentMono: at - T0, answered: true, late: false, rttMs, jitterMs });
const lost = (seq: number, at: number, direction: 'fwd' | 'rev' | 'unknown'): FinalProbe =>
  ({ seq, sentAt: at, sentMono: at - T0, answered: false, late: false, direction });

t.test('final probes fold into one sample per second of sending, as sums', async (t) => {
  const out: ProbeSample[] = [];
  const agg = new SampleAggregator('isp-a/cloud/inet', (s) => out.push(s));
  const probes = [
    answered(0, T0 + 0, 10, 1), answered(1, T0 + 200, 30, 2), lost(2, T0 + 400, 'fwd'), lost(3, T0 + 600, 'rev'), lost(4, T0 + 800, 'unknown'),
    answered(5, T0 + 1000, 20, 3), lost(6, T0 + 1999.9, 'fwd'),
  ];
  for (const p of probes) agg.add(p);
  t.equal(out.length, 1, `got ${out.length} samples before flush; want 1 (second 0 closed by a probe of second 1)`);
  agg.flush();
  agg.flush();
  const want: ProbeSample[] = [
    { subject: 'isp-a/cloud/inet', t: T0, sent: 5, lost: 3, lostFwd: 1, lostRev: 1, rttSum: 40, rttSqSum: 1000, rttMin: 10, rttMax: 30, jitterSum: 3, jitterMax: 2 },
    { subject: 'isp-a/cloud/inet', t: T0 + 1000, sent: 2, lost: 1, lostFwd: 1, lostRev: 0, rttSum: 20, rttSqSum: 400, rttMin: 20, rttMax: 20, jitterSum: 3, jitterMax: 3 },
  ];
  t.same(out, want, `got ${JSON.stringify(out)}; want ${JSON.stringify(want)}`);
});

t.test('a second with only losses has no RTT figures', async (t) => {
  const out: ProbeSample[] = [];
  const agg = new SampleAggregator('p', (s) => out.push(s));
  agg.add(lost(0, T0, 'unknown'));
  agg.flush();
  t.same([out[0]!.rttMin, out[0]!.rttMax, out[0]!.jitterMax], [null, null, null]);
});
