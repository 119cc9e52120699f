import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { EchoSession, type EchoReply } from './echo.js';
import type { FinalProbe } from './session.js';

/** A session over a fake link: the transport's clock is the fake monotonic clock + 1000 ms, so the two are told apart. */
function link(opts: { rate?: number; rttMs?: number } = {}) {
  const clock = new FakeClock({ now: Date.UTC(2026, 0, 1), monotonic: 0 });
  const offset = 1000;
  const state = { cut: false, rtt: opts.rttMs ?? 20, drop: new Set<number>() };
  const sent: Array<{ seq: number; txMs: number }> = [];
  const events = { answered: [] as Array<{ seq: number; rttMs: number; late: boolean }>, lost: [] as number[], final: [] as FinalProbe[] };
  let polls = 0;
  const inbox: EchoReply[] = [];
  const s: EchoSession = new EchoSession({
    ratePerSec: opts.rate ?? 5,
    clock,
    send: (seq) => {
      const txMs = clock.monotonic() + offset;
      sent.push({ seq, txMs });
      const n = sent.length - 1;
      if (!state.cut && !state.drop.has(n)) {
        const rtt = state.rtt;
        clock.setTimeout(() => inbox.push({ seq, sentMs: txMs, rxMs: txMs + rtt }), rtt);
      }
      return txMs;
    },
    beforeTimeout: () => { polls++; deliver(); },
    listener: {
      answered: (p) => events.answered.push({ seq: p.seq, rttMs: p.rttMs, late: p.late }),
      lost: (p) => events.lost.push(p.seq),
      final: (p) => events.final.push(p),
    },
  });
  const deliver = (): void => { for (const r of inbox.splice(0)) s.receive(r); };
  return { clock, s, state, sent, events, inbox, deliver, polls: () => polls };
}

t.test('replies are matched by sequence number and echoed send time; RTT from the transport clock', async (t) => {
  const l = link({ rttMs: 20 });
  l.s.start();
  for (let i = 0; i < 50; i++) { l.clock.advance(10); l.deliver(); }
  t.equal(l.events.answered.length, 3, `got ${l.events.answered.length} answers in 500 ms at 5/s; want 3`);
  t.ok(l.events.answered.every((a) => a.rttMs === 20), `got RTTs ${l.events.answered.map((a) => a.rttMs)}; want 20 each`);
  t.same(l.events.final.map((f) => f.seq), [0, 1, 2], 'answered probes are final at once, in order');
  t.equal(l.s.counters().foreign, 0);
  l.s.stop();
});

t.test('foreign, stale and duplicate replies are counted, never answered', async (t) => {
  const l = link();
  l.s.start();
  l.clock.advance(25);
  const first = l.inbox[0]!;
  t.equal(l.s.receive({ ...first, sentMs: first.sentMs + 0.001 }), 'foreign', 'another send time with the same number');
  t.equal(l.s.receive(first), 'answered');
  t.equal(l.s.receive(first), 'duplicate');
  t.equal(l.s.receive({ seq: 999, sentMs: 0, rxMs: 1 }), 'stale', 'a number never sent');
  t.equal(l.s.receive({ ...first, rxMs: first.sentMs - 1 }), 'stale', 'received before it was sent');
  t.same(l.s.counters(), { sent: 1, sendErrors: 0, answered: 1, late: 0, timeouts: 0, duplicates: 1, stale: 2, foreign: 1 });
  l.s.stop();
});

t.test('the socket is read before a probe is declared lost', async (t) => {
  const l = link({ rttMs: 400 });
  l.s.start();
  // First timeout is 1000 ms (no RTT yet): the reply at 400 ms sits unread
  // in the inbox until the timeout reads it.
  l.clock.advance(1000);
  t.ok(l.polls() >= 1, 'beforeTimeout was called');
  t.same(l.events.lost, [], `got lost ${l.events.lost}; want none: the reply was waiting`);
  t.equal(l.events.answered[0]?.late, false);
  l.s.stop();
});

t.test('a late reply counts back as answered (late), then final; past the late window it is stale', async (t) => {
  const l = link({ rttMs: 20 });
  l.s.start();
  for (let i = 0; i < 100; i++) { l.clock.advance(10); l.deliver(); } // RTT known: timeout floor 250 ms
  l.state.rtt = 800;
  const before = l.sent.length;
  l.clock.advance(500); // the next probe, sent within 200 ms, times out 250 ms later
  t.ok(l.events.lost.length >= 1, `got ${l.events.lost.length} lost; want the slow probe lost at its timeout`);
  l.clock.advance(600);
  l.deliver();
  const late = l.events.answered.filter((a) => a.late);
  t.ok(late.length >= 1 && late[0]!.seq === before, `got late answers ${JSON.stringify(late)}; want probe ${before} counted back`);
  const f = l.events.final.find((x) => x.seq === before);
  t.ok(f?.answered && f.late, `got final ${JSON.stringify(f)}; want answered and late`);
  t.equal(l.s.receive({ seq: 0, sentMs: l.sent[0]!.txMs, rxMs: l.sent[0]!.txMs + 6000 }), 'stale', 'a reply 6 s after sending');
  l.s.stop();
});

t.test('lost probes are final after the late window, in sequence order with the answered ones', async (t) => {
  const l = link({ rttMs: 10 });
  l.state.drop = new Set([2, 3]);
  l.s.start();
  for (let i = 0; i < 800; i++) { l.clock.advance(10); l.deliver(); } // 8 s
  const seqs = l.events.final.map((f) => f.seq);
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'final in sequence order');
  t.same(l.events.final.filter((f) => !f.answered).map((f) => [f.seq, f.direction]), [[2, 'unknown'], [3, 'unknown']], 'ICMP losses have no direction');
  t.ok(seqs.length >= 10, `got ${seqs.length} finals in 8 s; want the early probes released after 5 s`);
  l.s.stop();
});

t.test('a failing send is counted and its probe goes unanswered', async (t) => {
  const clock = new FakeClock();
  const lost: number[] = [];
  const s = new EchoSession({ ratePerSec: 5, clock, send: () => { throw new Error('ENETUNREACH'); }, listener: { lost: (p) => lost.push(p.seq) } });
  s.start();
  clock.advance(1100);
  t.equal(s.counters().sendErrors, s.counters().sent, 'every send failed');
  t.ok(lost.length >= 1, 'and is lost at its timeout');
  s.stop();
  t.equal(clock.pending(), 0, `got ${clock.pending()} timers after stop; want 0`);
});

t.test('options are checked', async (t) => {
  const cases: Array<[string, () => unknown]> = [
    ['rate 0', () => new EchoSession({ ratePerSec: 0, send: () => 0 })],
    ['no send', () => new EchoSession({ ratePerSec: 1, send: undefined as unknown as () => number })],
    ['rate that wraps 16-bit numbers within the late window', () => new EchoSession({ ratePerSec: 1000, send: () => 0, lateWindowMs: 60_000, maxLossTimeoutMs: 60_000 })],
  ];
  for (const [name, fn] of cases) t.throws(fn, { code: 'TERN_E_PROBE_ARG' }, name);
});
