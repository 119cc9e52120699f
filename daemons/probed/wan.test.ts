import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import type { IcmpReply, IcmpTransport } from './icmp.js';
import type { TimedTransition } from './monitor.js';
import type { ProbeSample } from './samples.js';
import { WanMonitor, type WanProbeSettings } from './wan.js';

const base: Omit<WanProbeSettings, 'targets'> = {
  wan: 'ispa', ratePerSec: 5, windowSec: 10, downAfter: 3, upAfter: 10, degraded: { lossPct: 5, latencyMs: 250, jitterMs: 50 },
};

/** A fake ICMP socket: targets answer after rtt[target] ms unless dead. */
function fakeTransport(clock: FakeClock, rtt: Record<string, number>) {
  const dead = new Set<string>();
  const inbox: IcmpReply[] = [];
  const sent: string[] = [];
  const tr: IcmpTransport = {
    send: (target, seq) => {
      const tx = clock.monotonic() + 0.5;
      sent.push(target);
      if (!dead.has(target) && rtt[target] !== undefined) {
        const r = rtt[target]!;
        clock.setTimeout(() => inbox.push({ from: target, seq, sentMs: tx, rxMs: tx + r }), r);
      }
      return tx;
    },
    receive: (max) => inbox.splice(0, max),
    stats: () => ({}),
    close: () => undefined,
  };
  return { tr, dead, sent, inbox, rtt };
}

function setup(targets: string[], rtt: Record<string, number>) {
  const clock = new FakeClock({ now: Date.UTC(2026, 0, 1), monotonic: 0 });
  const f = fakeTransport(clock, rtt);
  const transitions: TimedTransition[] = [];
  const samples: ProbeSample[] = [];
  const m = new WanMonitor({
    settings: { ...base, targets }, transports: { 4: f.tr }, clock,
    onTransition: (x) => transitions.push(x), onSample: (s) => samples.push(s),
  });
  return { clock, f, m, transitions, samples };
}

t.test('a target that stops answering is reported as that target; the WAN stays up while another answers', async (t) => {
  const s = setup(['198.18.1.1', '198.18.0.1'], { '198.18.1.1': 4, '198.18.0.1': 12 });
  s.m.start();
  s.clock.advance(3000);
  t.equal(s.m.state, 'up', `got ${s.m.state}; want up`);
  s.f.dead.add('198.18.0.1');
  s.clock.advance(3000);
  const targetDown = s.transitions.find((x) => x.target === '198.18.0.1' && x.to === 'down');
  t.ok(targetDown, 'the target has its own down transition');
  t.notOk(s.transitions.some((x) => x.target === undefined && x.to === 'down'), 'no WAN down transition');
  t.equal(s.m.state, 'up');
  const m = s.m.metrics();
  t.equal(m.lossPct, 0, `got WAN loss ${m.lossPct}% with one dead target of two; want 0 (a dead target is not link loss)`);
  t.equal(m.rttMs, 4, `got WAN rtt ${m.rttMs}; want the live target's 4 ms`);
  t.equal(m.targets.find((x) => x.target === '198.18.0.1')?.state, 'down');
  s.m.stop();
});

t.test('the WAN is down only when all its targets are', async (t) => {
  const s = setup(['198.18.1.1', '198.18.0.1'], { '198.18.1.1': 4, '198.18.0.1': 12 });
  s.m.start();
  s.clock.advance(3000);
  s.f.dead.add('198.18.1.1');
  s.clock.advance(2000);
  t.equal(s.m.state, 'up', 'one target left');
  s.f.dead.add('198.18.0.1');
  s.clock.advance(2000);
  t.equal(s.m.state, 'down', `got ${s.m.state}; want down with every target down`);
  const wanDown = s.transitions.filter((x) => x.target === undefined && x.to === 'down');
  t.equal(wanDown.length, 1);
  t.match(wanDown[0]!.reason, /all targets down/);
  const m = s.m.metrics();
  t.ok(m.lossPct !== null && m.lossPct > 0, `got loss ${m.lossPct}; want the outage counted when all are down`);
  s.f.dead.clear();
  s.clock.advance(1000);
  t.equal(s.m.state, 'down', 'still down before upAfter (10) answers in a row');
  s.clock.advance(2000);
  const back = s.transitions.find((x) => x.target === undefined && x.from === 'down');
  t.ok(back, 'the WAN came back after the hysteresis');
  t.equal(back?.to, 'degraded', `got ${back?.to}; want degraded while the window still holds the outage`);
  s.clock.advance(10_000);
  t.equal(s.m.state, 'up', 'up once the outage left the window');
  s.m.stop();
});

t.test('qosd figures: rttLatestMs of the latest round, rttBaselineMs, lossPct, jitterMs, ts', async (t) => {
  const s = setup(['198.18.1.1'], { '198.18.1.1': 10 });
  t.equal(s.m.round(), undefined, 'no round figures before any reply');
  t.notOk('rttBaselineMs' in s.m.metrics(), 'no baseline key before any reply (qosd takes absent, not null)');
  s.m.start();
  for (let i = 0; i < 10; i++) { s.clock.advance(200); s.m.round(); }
  const m = s.m.round() ?? s.m.metrics();
  t.match(m, { wan: 'ispa', state: 'up', rttMs: 10, rttLatestMs: 10, rttBaselineMs: 10, lossPct: 0, jitterMs: 0, ts: Number });
  t.ok(m.probes >= 9, `got ${m.probes} probes in the window; want about 10`);
  // Latency under load: the round's RTT moves at once, the window's average slowly.
  s.f.rtt['198.18.1.1'] = 50;
  s.clock.advance(100); // the reply in flight, still 10 ms
  t.equal(s.m.round()?.rttLatestMs, 10);
  s.clock.advance(200); // the next probe, at 50 ms
  const r = s.m.round();
  t.equal(r?.rttLatestMs, 50, `got round rtt ${r?.rttLatestMs}; want the latest reply's 50 ms`);
  t.ok(r!.rttMs! < 20, `got window average ${r!.rttMs}; want it still near 10 ms`);
  t.equal(r?.rttBaselineMs, 10, 'the baseline keeps the idle RTT');
  s.m.stop();
});

t.test('samples: per target (wan@target) and for the WAN, the dead target left out of the WAN', async (t) => {
  const s = setup(['198.18.1.1', '198.18.0.1'], { '198.18.1.1': 4 });
  s.m.start();
  s.clock.advance(20_000);
  s.m.stop();
  const sum = (subject: string, k: 'sent' | 'lost'): number => s.samples.filter((x) => x.subject === subject).reduce((a, x) => a + x[k], 0);
  t.ok(sum('ispa@198.18.1.1', 'sent') >= 95, `got ${sum('ispa@198.18.1.1', 'sent')} probes of the live target; want about 100`);
  t.equal(sum('ispa@198.18.1.1', 'lost'), 0);
  t.equal(sum('ispa@198.18.0.1', 'lost'), sum('ispa@198.18.0.1', 'sent'), 'the dead target lost everything');
  // Before the dead target was judged down (its first 3 probes) its losses
  // count for the WAN; after that they do not.
  t.ok(sum('ispa', 'lost') <= 3, `got ${sum('ispa', 'lost')} WAN losses; want at most the 3 before the target was down`);
});

t.test('replies from an address that is not a target are counted and dropped', async (t) => {
  const s = setup(['198.18.1.1'], { '198.18.1.1': 4 });
  s.m.start();
  s.f.inbox.push({ from: '192.0.2.9', seq: 0, sentMs: 0, rxMs: 1 });
  s.m.poll();
  t.equal(s.m.foreign, 1);
  s.m.stop();
  s.clock.advance(100); // the fake link's replies in flight
  t.equal(s.clock.pending(), 0, `got ${s.clock.pending()} timers after stop; want 0`);
});
