import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { isTernError } from '../lib/errors.js';
import { InflightLedger, RtoEstimator, type FinalProbe, type InflightProbe, type LossTimeoutOptions, type LostRelease } from './inflight.js';

t.test('RtoEstimator follows RFC 6298 §2 and clamps to its bounds', async (t) => {
  const cases: Array<{ name: string; rtts: number[]; want: number }> = [
    { name: 'no sample yet: the initial value', rtts: [], want: 1000 },
    // SRTT = R, RTTVAR = R/2: RTO = 3R.
    { name: 'first sample', rtts: [100], want: 300 },
    // RTTVAR = 3/4·50 + 1/4·|100−200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5.
    { name: 'second sample', rtts: [100, 200], want: 112.5 + 4 * 62.5 },
    { name: 'clamped to the minimum', rtts: [10], want: 250 },
    { name: 'clamped to the maximum', rtts: [1500], want: 2000 },
  ];
  for (const c of cases) {
    const rto = new RtoEstimator(250, 2000, 1000);
    for (const r of c.rtts) rto.add(r);
    t.equal(rto.timeoutMs(), c.want, `${c.name}: got ${rto.timeoutMs()}; want ${c.want}`);
  }
});

interface Harness {
  clock: FakeClock;
  ledger: InflightLedger<InflightProbe>;
  /** Send probe n now (wire = n). */
  send(n: number): InflightProbe;
  finals: FinalProbe[];
  lost: number[];
  /** What releaseLost answers next (default: final, direction unknown). */
  verdict: (queue: readonly InflightProbe[]) => LostRelease;
}

function harness(timeouts: LossTimeoutOptions = {}, beforeLoss?: () => void): Harness {
  const clock = new FakeClock({ monotonic: 0 });
  const h: Harness = {
    clock,
    finals: [],
    lost: [],
    verdict: () => ['unknown'],
    send: (n) => {
      const p: InflightProbe = {
        n, wire: n, sentMono: clock.monotonic(), sentAt: clock.now(), state: 'pending', late: false, rttMs: 0, jitterMs: 0, timer: undefined,
      };
      h.ledger.add(p);
      h.ledger.release();
      return p;
    },
    ledger: undefined as unknown as InflightLedger<InflightProbe>,
  };
  h.ledger = new InflightLedger<InflightProbe>({
    where: 'test',
    clock,
    timeouts,
    beforeLoss,
    lost: (p) => h.lost.push(p.n),
    releaseLost: (queue) => h.verdict(queue),
    final: (_p, f) => h.finals.push(f),
  });
  return h;
}

const seqs = (fs: FinalProbe[]): number[] => fs.map((f) => f.seq);

t.test('bad loss timeout bounds are refused with the option named', async (t) => {
  const cases: Array<[string, LossTimeoutOptions, string]> = [
    ['min 0', { minLossTimeoutMs: 0 }, 'minLossTimeoutMs'],
    ['max below min', { minLossTimeoutMs: 500, maxLossTimeoutMs: 400 }, 'maxLossTimeoutMs'],
    ['initial above max', { initialLossTimeoutMs: 3000 }, 'initialLossTimeoutMs'],
    ['late window shorter than max', { lateWindowMs: 1000 }, 'lateWindowMs'],
  ];
  for (const [name, opts, option] of cases) {
    try {
      harness(opts);
      t.fail(`${name}: got no error; want TERN_E_PROBE_ARG`);
    } catch (err) {
      t.ok(isTernError(err) && err.code === 'TERN_E_PROBE_ARG' && err.message.startsWith(`test: ${option} is`),
        `${name}: got ${String(err)}; want TERN_E_PROBE_ARG naming ${option}`);
    }
  }
});

t.test('finals come in sequence order: an answer waits for the probes before it', async (t) => {
  const h = harness();
  const p0 = h.send(0);
  const p1 = h.send(1);
  h.clock.advance(20);
  t.equal(h.ledger.answer(p1, 20), false, 'on time');
  h.ledger.release();
  t.same(seqs(h.finals), [], 'probe 1 answered, probe 0 pending: no final yet');
  t.equal(h.ledger.pending, 1);
  h.ledger.answer(p0, 20);
  h.ledger.release();
  t.same(seqs(h.finals), [0, 1], `got ${JSON.stringify(seqs(h.finals))}; want [0,1]`);
  t.same(h.finals[0], { seq: 0, sentAt: p0.sentAt, sentMono: 0, answered: true, late: false, rttMs: 20, jitterMs: p0.jitterMs });
});

t.test('a lost probe: lost at its timeout, final after its late window, late answer inside it', async (t) => {
  const h = harness({ initialLossTimeoutMs: 1000, lateWindowMs: 5000 });
  const p0 = h.send(0);
  h.send(1);
  h.clock.advance(999);
  t.same(h.lost, [], 'not before the timeout');
  h.clock.advance(1);
  t.same(h.lost, [0, 1], 'both time out at 1000 ms');
  t.equal(p0.state, 'lost');
  t.equal(h.ledger.answer(p0, 3000), true, 'an answer after the timeout is late');
  h.clock.advance(3999);
  h.ledger.release();
  t.same(seqs(h.finals), [0], 'the late answer is final; probe 1 waits for its late window');
  t.same(h.finals[0]!.late, true);
  h.clock.advance(1);
  h.ledger.release();
  t.same(h.finals[1], { seq: 1, sentAt: h.finals[1]!.sentAt, sentMono: 0, answered: false, late: false, direction: 'unknown' });
  t.equal(h.ledger.get(1), undefined, 'a lost final probe is forgotten');
});

t.test('releaseLost decides the lost head: wait, drop (no final), or k finals with directions', async (t) => {
  const h = harness({ lateWindowMs: 5000 });
  for (let n = 0; n < 3; n++) h.send(n);
  h.clock.advance(1000);
  t.same(h.lost, [0, 1, 2]);
  let asked = 0;
  h.verdict = () => { asked++; return 'wait'; };
  h.clock.advance(4000);
  h.ledger.release();
  t.ok(asked > 0, 'asked once the head is past its late window');
  t.same(h.finals, [], 'wait: nothing final');
  h.verdict = (q) => (q[0]!.n === 0 ? 'drop' : ['fwd', 'rev']);
  h.ledger.release();
  t.same(h.finals.map((f) => [f.seq, f.direction]), [[1, 'fwd'], [2, 'rev']], 'probe 0 dropped without a final; 1 and 2 final with their directions');
  t.equal(h.ledger.get(0), undefined, 'a dropped probe is forgotten');
  t.equal(h.clock.pending(), 0, 'no timer left behind');
});

t.test('an answered final probe stays matchable for its late window, then is forgotten', async (t) => {
  const h = harness({ lateWindowMs: 5000 });
  const p0 = h.send(0);
  h.ledger.answer(p0, 10);
  h.ledger.release();
  t.same(seqs(h.finals), [0]);
  h.clock.advance(4999);
  h.ledger.release();
  t.equal(h.ledger.get(0), p0, 'still there: a second reply is a duplicate, not stale');
  h.clock.advance(1);
  h.ledger.release();
  t.equal(h.ledger.get(0), undefined, 'gone after its late window');
});

t.test('deadlines never go backwards when the loss timeout shrinks', async (t) => {
  const h = harness({ initialLossTimeoutMs: 2000, maxLossTimeoutMs: 2000 });
  h.send(0);
  const p1 = h.send(1);
  h.ledger.answer(p1, 10);
  t.equal(h.ledger.rto.timeoutMs(), 250, 'the timeout shrank to the minimum');
  h.send(2);
  h.clock.advance(1999);
  t.same(h.lost, [], `got ${JSON.stringify(h.lost)}; want probe 2 not lost before probe 0`);
  h.clock.advance(1);
  t.same(h.lost, [0, 2], 'probe 2 times out with probe 0, not before it');
});

t.test('beforeLoss: a reply read just before the timeout makes the probe on time, not lost', async (t) => {
  let reads = 0;
  const h: Harness = harness({}, () => { reads++; h.ledger.answer(h.ledger.get(0)!, 900); });
  const p0 = h.send(0);
  h.clock.advance(1000);
  t.equal(reads, 1, 'read once, at the timeout');
  t.same(h.lost, [], 'not lost');
  t.equal(p0.state, 'answered');
  t.equal(p0.late, false, 'not late');
});

t.test('stop drops the probes in flight and makes the decided ones final at once', async (t) => {
  const h = harness();
  const p0 = h.send(0);
  h.send(1);
  h.clock.advance(1000);
  h.send(2);
  h.ledger.answer(p0, 990);
  h.ledger.release();
  t.same(seqs(h.finals), [0]);
  h.ledger.stop();
  t.same(seqs(h.finals), [0, 1], `got ${JSON.stringify(seqs(h.finals))}; want the lost probe 1 final, the pending probe 2 dropped`);
  t.equal(h.ledger.pending, 0);
  for (const n of [0, 1, 2]) t.equal(h.ledger.get(n), undefined, `probe ${n} forgotten`);
  t.equal(h.clock.pending(), 0, 'no timer left behind');
});
