// Endpoint drift detection: a drift is counted and reported once from the
// reading that first sees it to the reading that sees the endpoint back,
// however many readings it lasts; peers behind NAT (no wanted endpoint)
// and peers without an endpoint yet never drift.
import t from 'tap';
import { EndpointDrifts, stubbornDriftReadings, type DriftReading } from './drift.js';

const want = '198.18.3.2:51852';
const wrong = '198.18.1.2:51852';

t.test('a sequence of readings: what each says, and the count', async (t) => {
  const steps: Array<{ name: string; wanted: string | undefined; observed: string | null; want: DriftReading; count: number }> = [
    { name: 'no endpoint yet (just created)', wanted: want, observed: null, want: 'ok', count: 0 },
    { name: 'as the config names it', wanted: want, observed: want, want: 'ok', count: 0 },
    { name: 'roamed to another WAN of the far end', wanted: want, observed: wrong, want: 'drifted', count: 1 },
    { name: 'still there (the pass has not set it back yet)', wanted: want, observed: wrong, want: 'still', count: 1 },
    { name: 'still elsewhere, moved again: the same drift', wanted: want, observed: '198.18.2.2:51852', want: 'still', count: 1 },
    { name: 'set back', wanted: want, observed: want, want: 'back', count: 1 },
    { name: 'stays back', wanted: want, observed: want, want: 'ok', count: 1 },
    { name: 'roams away again: a second drift', wanted: want, observed: wrong, want: 'drifted', count: 2 },
    { name: 'the config now names that address: no drift', wanted: wrong, observed: wrong, want: 'back', count: 2 },
    { name: 'the config names another port: a drift', wanted: '198.18.1.2:51853', observed: wrong, want: 'drifted', count: 3 },
    { name: 'the WAN is now behind NAT: nothing to compare', wanted: undefined, observed: wrong, want: 'back', count: 3 },
    { name: 'behind NAT, roaming anywhere', wanted: undefined, observed: '203.0.113.9:40000', want: 'ok', count: 3 },
  ];
  const d = new EndpointDrifts();
  for (const s of steps) {
    const got = d.observe('ispc/home/ispa', s.wanted, s.observed);
    t.equal(got, s.want, `${s.name}: got ${got}; want ${s.want}`);
    t.equal(d.count('ispc/home/ispa'), s.count, `${s.name}: got count ${d.count('ispc/home/ispa')}; want ${s.count}`);
  }
});

t.test('spelling does not make a drift: IPv6 endpoints compare as WireGuard lists them', async (t) => {
  const d = new EndpointDrifts();
  t.equal(d.observe('p', '[2001:DB8:0::1]:51820', '[2001:db8::1]:51820'), 'ok');
  t.equal(d.observe('p', '[2001:db8::1]:51820', '[2001:db8::2]:51820'), 'drifted');
  t.equal(d.observe('p', 'not an endpoint', '[2001:db8::2]:51820'), 'back', 'an endpoint that does not parse is nothing to compare');
});

t.test('paths are counted apart; total; forgotten when they leave the plan', async (t) => {
  const d = new EndpointDrifts();
  d.observe('a', want, wrong);
  d.observe('b', want, wrong);
  d.observe('b', want, want);
  d.observe('b', want, wrong);
  t.same([d.count('a'), d.count('b'), d.total()], [1, 2, 3]);
  t.ok(d.drift('a') && d.drift('b'), 'both drifted now');
  d.keepOnly(new Set(['b']));
  t.same([d.count('a'), d.drift('a'), d.total()], [0, undefined, 2], 'a is gone from the plan');
});

t.test(`a drift that outlasts ${stubbornDriftReadings} readings is stubborn (worth a warning), until it ends`, async (t) => {
  const d = new EndpointDrifts();
  for (let i = 1; i <= stubbornDriftReadings; i++) {
    d.observe('p', want, wrong);
    const got = d.stubborn().length;
    const expect = i >= stubbornDriftReadings ? 1 : 0;
    t.equal(got, expect, `after ${i} readings: got ${got} stubborn; want ${expect}`);
  }
  t.same(d.stubborn(), [{ path: 'p', wanted: want, observed: wrong }]);
  d.observe('p', want, want);
  t.same(d.stubborn(), [], 'back: no longer');
});
