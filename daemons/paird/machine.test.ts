import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { VrrpMachine, masterDownInterval, skewTime, type Action, type MachineOptions, type State } from './machine.js';
import { VrrpRunner } from './runner.js';
import { PriorityTracker } from './track.js';
import { decode, encode, vrrpGroupV4, type ChecksumMode } from './packet.js';

const vrid = 51;
const vips = ['192.168.10.1'];

/** One appliance: a machine and runner whose adverts go through the real codec onto a fake wire. */
class Box {
  readonly machine: VrrpMachine;
  readonly runner: VrrpRunner;
  vipsUp = false;
  announcements = 0;
  sent: number[] = []; // priorities of adverts sent
  transitions: { at: number; to: State; reason: string }[] = [];

  constructor(readonly name: string, readonly address: string, private readonly wire: Wire, opts: Partial<MachineOptions>, readonly mode: ChecksumMode = 'rfc9568') {
    this.machine = new VrrpMachine({
      priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: address,
      garp: { count: 3, spacingMs: 100 }, clock: wire.clock, ...opts,
    });
    this.runner = new VrrpRunner({ machine: this.machine, clock: wire.clock, onAction: (a) => this.act(a) });
    wire.boxes.push(this);
  }

  get state(): State { return this.machine.state; }

  start(): void { this.runner.dispatch({ type: 'startup' }); }
  stop(): void { this.runner.dispatch({ type: 'shutdown' }); }

  receive(bytes: Buffer, src: string): void {
    const got = decode(bytes, { src, dst: vrrpGroupV4, ttl: 255, mode: this.mode, expectedVrid: vrid, localAddresses: [this.address] });
    if (got.ok) this.runner.dispatch({ type: 'advert', priority: got.advert.priority, intervalMs: got.advert.intervalMs, src });
    else this.runner.dispatch({ type: 'discard', reason: got.reason });
  }

  private act(a: Action): void {
    switch (a.type) {
      case 'sendAdvert':
        this.sent.push(a.priority);
        this.wire.send(this, encode({ vrid, priority: a.priority, intervalMs: a.intervalMs, addresses: vips }, { src: this.address, dst: vrrpGroupV4, mode: this.mode }));
        break;
      case 'addVips': this.vipsUp = true; break;
      case 'removeVips': this.vipsUp = false; break;
      case 'announce': this.announcements++; break;
      case 'transition': this.transitions.push({ at: this.wire.clock.monotonic(), to: a.to, reason: a.reason }); break;
      default: break;
    }
  }
}

/** The LAN: delivers each advert to every other box after latencyMs, unless either end is cut off. */
class Wire {
  readonly clock = new FakeClock();
  readonly boxes: Box[] = [];
  readonly cut = new Set<Box>();
  constructor(readonly latencyMs = 0) {}

  send(from: Box, bytes: Buffer): void {
    for (const to of this.boxes) {
      if (to === from || this.cut.has(from) || this.cut.has(to)) continue;
      this.clock.setTimeout(() => to.receive(bytes, from.address), this.latencyMs);
    }
  }

  masters(): string[] { return this.boxes.filter((b) => b.state === 'master').map((b) => b.name); }
}

t.test('Skew_Time and Master_Down_Interval follow RFC 9568 6.1', async (t) => {
  const cases = [
    { priority: 100, interval: 100, skew: 60.9375, down: 360.9375 },
    { priority: 150, interval: 100, skew: 41.40625, down: 341.40625 },
    { priority: 254, interval: 10, skew: 0.078125, down: 30.078125 },
    { priority: 1, interval: 1000, skew: 996.09375, down: 3996.09375 },
    { priority: 100, interval: 1000, skew: 609.375, down: 3609.375 },
  ];
  for (const c of cases) {
    t.equal(skewTime(c.priority, c.interval), c.skew, `skew p${c.priority} i${c.interval}: got ${skewTime(c.priority, c.interval)}; want ${c.skew}`);
    t.equal(masterDownInterval(c.priority, c.interval), c.down, `down p${c.priority} i${c.interval}: got ${masterDownInterval(c.priority, c.interval)}; want ${c.down}`);
  }
});

t.test('a single router becomes master after Master_Down_Interval', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, {});
  a.start();
  t.equal(a.state, 'backup');
  t.equal(a.vipsUp, false);
  wire.clock.advance(360);
  t.equal(a.state, 'backup', 'at 360 ms: got backup? want backup (Master_Down_Interval is 360.9375)');
  wire.clock.advance(1);
  t.equal(a.state, 'master', `at 361 ms: got ${a.state}; want master`);
  t.equal(a.vipsUp, true);
  t.same(a.transitions.map((x) => x.reason), ['startup', 'masterDown']);
  t.equal(a.sent.length, 1, `adverts at takeover: got ${a.sent.length}; want 1`);
  t.equal(a.announcements, 1, 'first announcement at once');
  wire.clock.advance(200);
  t.equal(a.announcements, 3, `announcements after 2 spacings: got ${a.announcements}; want 3 (garp.count)`);
  wire.clock.advance(800);
  t.equal(a.announcements, 3, 'no more than garp.count');
  // Taken over at 360.94; adverts at +0, +100 ... +1000: 11.
  t.equal(a.sent.length, 11, `adverts after 1 s as master: got ${a.sent.length}; want 11`);
  const st = a.machine.status();
  t.same([st.counters.advertsSent, st.counters.becameMaster, st.counters.transitions, st.counters.lastTransition?.reason], [11, 1, 2, 'masterDown']);
  t.same(st.master, { address: '192.168.10.2', priority: 100 });
});

t.test('higher priority wins; the other stays backup and hears every advert', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 150 });
  const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
  a.start();
  b.start();
  wire.clock.advance(10_000);
  t.same(wire.masters(), ['a']);
  t.equal(b.machine.status().counters.becameMaster, 0, 'b never became master');
  t.equal(b.vipsUp, false);
  const sent = a.machine.status().counters.advertsSent;
  const heard = b.machine.status().counters.advertsReceived;
  t.ok(sent >= 96 && sent <= 97, `a's adverts in 10 s: got ${sent}; want 96-97 (one per 100 ms after 341 ms)`);
  t.equal(heard, sent, `b heard: got ${heard}; want every advert a sent (${sent})`);
  t.same(b.machine.status().master, { address: '192.168.10.2', priority: 150 });
});

t.test('equal priority: when both claim master, the higher address wins', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, {});
  const b = new Box('b', '192.168.10.3', wire, {});
  a.start();
  b.start();
  wire.clock.advance(361);
  // Both timers ran out at 360.94 before either advert arrived: both took over, then resolved.
  t.equal(a.machine.status().counters.becameMaster, 1, 'a took over once');
  t.equal(b.machine.status().counters.becameMaster, 1, 'b took over once');
  wire.clock.advance(5_000);
  t.same(wire.masters(), ['b'], `masters: got ${wire.masters()}; want b (192.168.10.3 > 192.168.10.2)`);
  t.equal(a.transitions.at(-1)?.reason, 'higherPriority');
  t.equal(a.vipsUp, false);
  t.equal(b.vipsUp, true);
  // Compared as unsigned integers: 10.0.0.10 beats 10.0.0.9 although "9" > "1" as text.
  const w2 = new Wire();
  const c = new Box('c', '10.0.0.9', w2, {});
  const d = new Box('d', '10.0.0.10', w2, {});
  c.start();
  d.start();
  w2.clock.advance(5_000);
  t.same(w2.masters(), ['d'], `masters: got ${w2.masters()}; want d (10.0.0.10)`);
});

t.test('priority 0 on shutdown: the backup takes over after Skew_Time, not Master_Down_Interval', async (t) => {
  for (const graceful of [true, false]) {
    const wire = new Wire();
    const a = new Box('a', '192.168.10.2', wire, { priority: 150 });
    const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
    a.start();
    b.start();
    wire.clock.advance(1_000 - wire.clock.monotonic() + 341.40625); // just after one of a's adverts
    t.same(wire.masters(), ['a']);
    const at = wire.clock.monotonic();
    if (graceful) a.stop();
    else wire.cut.add(a); // the box dies: no priority 0
    const wantMs = graceful ? skewTime(100, 100) : masterDownInterval(100, 100);
    wire.clock.advance(Math.floor(wantMs) - 1);
    t.equal(b.state, 'backup', `${graceful ? 'graceful' : 'crash'}: b at +${Math.floor(wantMs) - 1} ms: got ${b.state}; want backup`);
    wire.clock.advance(2);
    t.equal(b.state, 'master', `${graceful ? 'graceful' : 'crash'}: b at +${Math.floor(wantMs) + 1} ms: got ${b.state}; want master`);
    const took = (b.transitions.at(-1)?.at ?? 0) - at;
    t.equal(took, wantMs, `takeover after: got ${took} ms; want ${wantMs}`);
    t.equal(b.transitions.at(-1)?.reason, graceful ? 'masterResigned' : 'masterDown');
    if (graceful) {
      t.equal(a.sent.at(-1), 0, 'a sent priority 0 last');
      t.equal(a.state, 'initialize');
      t.equal(a.vipsUp, false);
      t.equal(a.runner.armedTimers(), 0, `a's timers after shutdown: got ${a.runner.armedTimers()}; want 0`);
      t.equal(b.machine.status().counters.priorityZeroReceived, 1);
    }
  }
});

t.test('preempt off: a returning higher-priority router stays backup', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 150, preempt: false });
  const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
  b.start();
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['b']);
  a.start();
  wire.clock.advance(10_000);
  t.same(wire.masters(), ['b'], `masters 10 s after a returned: got ${wire.masters()}; want b`);
  t.equal(a.machine.status().counters.becameMaster, 0);
  t.same(a.machine.status().master, { address: '192.168.10.3', priority: 100 });
});

t.test('preempt on: a returning higher-priority router takes over, after the preempt delay if set', async (t) => {
  for (const delay of [0, 2_000]) {
    const wire = new Wire();
    const a = new Box('a', '192.168.10.2', wire, { priority: 150, preemptDelayMs: delay });
    const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
    b.start();
    wire.clock.advance(1_000);
    a.start();
    const start = wire.clock.monotonic();
    if (delay > 0) {
      wire.clock.advance(delay - 1);
      t.same(wire.masters(), ['b'], `delay ${delay}: masters just before the delay ends: got ${wire.masters()}; want b`);
      t.equal(a.machine.status().preemptHeld, true);
      t.equal(a.machine.status().counters.lowerPriorityIgnored, 0, 'b adverts accepted while held');
    }
    wire.clock.advance(delay + 500 - (wire.clock.monotonic() - start));
    t.same(wire.masters(), ['a'], `delay ${delay}: masters 500 ms after the delay: got ${wire.masters()}; want a`);
    const took = (a.transitions.at(-1)?.at ?? 0) - start;
    // Preempting means letting b's adverts go unheard: the timer armed by the
    // last advert accepted before the delay ended runs out. Without a delay no
    // advert is ever accepted, so it is exactly Master_Down_Interval.
    const mdi = masterDownInterval(150, 100);
    const ok = delay === 0 ? took === mdi : took > delay + mdi - 100 && took <= delay + mdi;
    t.ok(ok, `delay ${delay}: took over after ${took} ms; want ${delay === 0 ? mdi : `${delay} + Master_Down_Interval - up to one interval`}`);
    t.equal(a.transitions.at(-1)?.reason, 'preempt');
    t.equal(b.state, 'backup');
    t.equal(b.vipsUp, false);
  }
});

t.test('the address owner (255) takes over at startup, at once', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 255, preempt: false, preemptDelayMs: 5_000 });
  const b = new Box('b', '192.168.10.3', wire, { priority: 200 });
  b.start();
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['b']);
  a.start();
  t.equal(a.state, 'master', 'master within the startup event');
  t.same(a.transitions.map((x) => x.reason), ['owner']);
  wire.clock.advance(0);
  t.same(wire.masters(), ['a'], `masters once b heard a: got ${wire.masters()}; want a`);
  wire.clock.advance(5_000);
  t.same(wire.masters(), ['a']);
});

t.test('a backup adopts the master\'s advertised interval', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 150, advertIntervalMs: 1_000 });
  const b = new Box('b', '192.168.10.3', wire, { priority: 100, advertIntervalMs: 100 });
  b.start();
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['b']);
  a.start(); // preempts after its own Master_Down_Interval: 1000 + 3414.0625
  wire.clock.advance(5_000);
  t.same(wire.masters(), ['a']);
  t.equal(b.machine.status().masterAdverIntervalMs, 1_000, 'b times out on a\'s 1000 ms, not its own 100 ms');
  t.equal(b.machine.status().masterDownIntervalMs, 3_609.375);
  t.ok(b.machine.status().counters.intervalMismatches > 0, 'the differing interval is counted');
  const am = a.machine.status().counters;
  t.ok(am.advertsReceived > 0 && am.intervalMismatches === am.advertsReceived,
    `a's mismatches: got ${am.intervalMismatches} of ${am.advertsReceived} adverts; want all (b sends every 100 ms, a every 1000)`);
  // a advertises at 4414.0625 + k x 1000; the last one b hears is at 5414.0625.
  wire.cut.add(a);
  const last = 5_414.0625;
  wire.clock.advance(last + 3_609 - wire.clock.monotonic());
  t.equal(b.state, 'backup', 'not before the adopted Master_Down_Interval');
  wire.clock.advance(1);
  t.equal(b.state, 'master');
  const took = (b.transitions.at(-1)?.at ?? 0) - last;
  t.equal(took, 3_609.375, `b took over after the last advert: got ${took} ms; want 3609.375`);
});

t.test('split brain then heal: exactly one master again', async (t) => {
  const cases = [
    { name: 'different priorities', pa: 150, pb: 100, want: 'a' },
    { name: 'equal priorities', pa: 100, pb: 100, want: 'b' },
  ];
  for (const c of cases) {
    const wire = new Wire();
    const a = new Box('a', '192.168.10.2', wire, { priority: c.pa });
    const b = new Box('b', '192.168.10.3', wire, { priority: c.pb });
    a.start();
    wire.clock.advance(1_000);
    b.start();
    wire.clock.advance(1_000);
    t.same(wire.masters(), ['a'], `${c.name}: before the split`);
    wire.cut.add(a);
    wire.cut.add(b);
    wire.clock.advance(1_000);
    t.same(wire.masters(), ['a', 'b'], `${c.name}: during the split: got ${wire.masters()}; want both`);
    wire.cut.clear();
    wire.clock.advance(100);
    t.same(wire.masters(), [c.want], `${c.name}: one interval after healing: got ${wire.masters()}; want ${c.want}`);
    wire.clock.advance(5_000);
    t.same(wire.masters(), [c.want], `${c.name}: 5 s later: got ${wire.masters()}; want ${c.want}`);
    t.same(wire.boxes.filter((x) => x.vipsUp).map((x) => x.name), [c.want], `${c.name}: VIPs only on ${c.want}`);
  }
});

t.test('tracking lowers priority and hands over; hold-down delays taking it back', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 150 });
  const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
  const tracker = new PriorityTracker({
    basePriority: 150, items: [{ name: 'isp-a', weight: 60 }], holdDownMs: 2_000, clock: wire.clock,
    onChange: (priority) => a.runner.dispatch({ type: 'priority', priority }),
  });
  a.start();
  b.start();
  wire.clock.advance(2_000);
  t.same(wire.masters(), ['a']);

  tracker.set('isp-a', false);
  t.equal(a.machine.priority, 90);
  t.same(tracker.why(), ['isp-a down: \u221260']);
  wire.clock.advance(masterDownInterval(100, 100) + 100);
  t.same(wire.masters(), ['b'], `after isp-a went down: got ${wire.masters()}; want b`);
  t.equal(b.transitions.at(-1)?.reason, 'preempt');

  tracker.set('isp-a', true);
  t.equal(a.machine.priority, 90, 'still 90 while held down');
  t.match(tracker.why()[0], /^isp-a up, held down 2000 ms more: \u221260$/);
  wire.clock.advance(1_999);
  t.same(wire.masters(), ['b'], 'b keeps the VIPs through the hold-down');
  tracker.set('isp-a', false); // a flap restarts the wait
  tracker.set('isp-a', true);
  const upAgain = wire.clock.monotonic();
  wire.clock.advance(1_999);
  t.equal(a.machine.priority, 90, 'a flap during hold-down restarts it');
  wire.clock.advance(1);
  t.equal(a.machine.priority, 150, 'weight given back after 2000 ms up');
  wire.clock.advance(masterDownInterval(150, 100) + 100);
  t.same(wire.masters(), ['a'], `after hold-down: got ${wire.masters()}; want a`);
  const back = (a.transitions.at(-1)?.at ?? 0) - upAgain;
  t.ok(back > 2_000 + masterDownInterval(150, 100) - 100 && back <= 2_000 + masterDownInterval(150, 100),
    `a took back the VIPs ${back} ms after isp-a came up; want hold-down + Master_Down_Interval - up to one interval`);
  tracker.close();
});

t.test('mismatched checksum modes: both master, each counting checksum discards', async (t) => {
  const wire = new Wire();
  const a = new Box('a', '192.168.10.2', wire, { priority: 150 }, 'rfc9568');
  const b = new Box('b', '192.168.10.3', wire, { priority: 100 }, 'keepalived');
  a.start();
  b.start();
  wire.clock.advance(2_000);
  t.same(wire.masters(), ['a', 'b']);
  const da = a.machine.status().counters.discards.checksum;
  const db = b.machine.status().counters.discards.checksum;
  t.ok(da > 10 && db > 10, `checksum discards: got a ${da}, b ${db}; want both counting`);
  t.equal(a.machine.status().counters.advertsReceived, 0);
});

t.test('machine units: actions in order, counters, stale timers, bad input', async (t) => {
  const clock = new FakeClock();
  const m = new VrrpMachine({ priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 500, localAddress: '10.0.0.2', garp: { count: 2, spacingMs: 50 }, clock });
  const types = (as: Action[]): string[] => as.map((a) => (a.type === 'armTimer' || a.type === 'cancelTimer' ? `${a.type}:${a.timer}` : a.type));
  t.same(types(m.handle({ type: 'startup' })), ['armTimer:preemptDelay', 'transition', 'removeVips', 'armTimer:masterDown']);
  t.same(m.handle({ type: 'startup' }), [], 'a second startup does nothing');
  t.same(m.handle({ type: 'timer', timer: 'advert' }), [], 'a timer that is not armed is ignored');
  t.equal(m.status().counters.staleTimers, 1);
  t.same(types(m.handle({ type: 'timer', timer: 'masterDown' })), ['transition', 'sendAdvert', 'addVips', 'announce', 'armTimer:garp', 'armTimer:advert']);
  t.same(types(m.handle({ type: 'advert', priority: 50, intervalMs: 100, src: '10.0.0.3' })), ['sendAdvert', 'armTimer:advert'], 'master answers a lower priority at once (RFC 9568)');
  t.equal(m.status().counters.lowerPriorityAnswered, 1);
  t.same(types(m.handle({ type: 'advert', priority: 0, intervalMs: 100, src: '10.0.0.3' })), ['sendAdvert', 'armTimer:advert'], 'master answers priority 0 at once');
  t.same(types(m.handle({ type: 'priority', priority: 120 })), ['sendAdvert', 'armTimer:advert'], 'master tells its new priority at once');
  t.same(m.handle({ type: 'priority', priority: 120 }), [], 'unchanged priority: nothing');
  t.same(types(m.handle({ type: 'advert', priority: 120, intervalMs: 200, src: '10.0.0.1' })), ['sendAdvert', 'armTimer:advert'], 'equal priority, lower address: stay master');
  t.same(types(m.handle({ type: 'advert', priority: 120, intervalMs: 200, src: '10.0.0.3' })),
    ['cancelTimer:advert', 'cancelTimer:garp', 'transition', 'removeVips', 'armTimer:masterDown'], 'equal priority, higher address: step down');
  t.equal(m.status().masterAdverIntervalMs, 200, 'adopted the new master\'s interval');
  m.handle({ type: 'discard', reason: 'ttl' });
  m.handle({ type: 'discard', reason: 'ttl' });
  t.equal(m.status().counters.discards.ttl, 2);
  t.same(types(m.handle({ type: 'shutdown' })), ['cancelTimer:masterDown', 'cancelTimer:preemptDelay', 'transition']);
  t.same(m.handle({ type: 'advert', priority: 200, intervalMs: 100, src: '10.0.0.3' }), [], 'adverts in Initialize are ignored');
  t.equal(m.status().counters.lastTransition?.at, clock.now(), 'transition time from the injected clock');

  t.throws(() => m.handle({ type: 'priority', priority: 0 }), { code: 'TERN_E_PAIRD_ARG' }, 'priority 0 is not a setting');
  const bad: Partial<MachineOptions>[] = [
    { priority: 0 }, { priority: 256 }, { advertIntervalMs: 5 }, { advertIntervalMs: 105 }, { preemptDelayMs: -1 },
    { localAddress: 'nope' }, { garp: { count: -1, spacingMs: 0 } },
  ];
  for (const b of bad) {
    t.throws(() => new VrrpMachine({ priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: '10.0.0.2', garp: { count: 1, spacingMs: 0 }, ...b }),
      { code: 'TERN_E_PAIRD_ARG' }, `${JSON.stringify(b)}: want TERN_E_PAIRD_ARG`);
  }
});

t.test('runner: a failing action does not leave timers unarmed', async (t) => {
  const clock = new FakeClock();
  const machine = new VrrpMachine({ priority: 255, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: '10.0.0.2', garp: { count: 1, spacingMs: 0 } });
  const errors: string[] = [];
  let sends = 0;
  const runner = new VrrpRunner({
    machine, clock,
    onAction: (a) => { if (a.type === 'sendAdvert') { sends++; throw new Error('ENETDOWN'); } },
    onError: (err, a) => errors.push(`${a.type}: ${(err as Error).message}`),
  });
  runner.dispatch({ type: 'startup' });
  t.equal(runner.armedTimers(), 1, 'advert timer armed despite the failed send');
  clock.advance(1_000);
  t.equal(sends, 11, `sends attempted: got ${sends}; want 11 (one at start, one per 100 ms)`);
  t.equal(errors.length, 11);
  runner.close();
  t.equal(clock.pending(), 0, `timers after close: got ${clock.pending()}; want 0`);
  const noHandler = new VrrpRunner({ machine: new VrrpMachine({ priority: 255, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: '10.0.0.2', garp: { count: 1, spacingMs: 0 } }), clock, onAction: () => { throw new Error('boom'); } });
  t.throws(() => noHandler.dispatch({ type: 'startup' }), /boom/, 'without onError the first error is rethrown');
  t.equal(noHandler.armedTimers(), 1, '...after the timers were armed');
  noHandler.close();
});

t.test('a master hearing a lower-priority master announces the VIPs again (split brain healing)', async (t) => {
  const wire = new Wire(1);
  const a = new Box('a', '192.168.10.2', wire, { priority: 150 });
  const b = new Box('b', '192.168.10.3', wire, { priority: 100 });
  a.start();
  b.start();
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['a']);
  const before = a.announcements;
  // Cut b off until it is master too; its adverts never reach a meanwhile.
  wire.cut.add(b);
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['a', 'b'], 'split: both master');
  t.equal(a.announcements, before, 'a saw nothing, announced nothing');
  wire.cut.delete(b);
  wire.clock.advance(1_000);
  t.same(wire.masters(), ['a'], `healed: got ${wire.masters()}; want a`);
  const c = a.machine.status().counters;
  t.ok(c.reannouncements >= 1, `a's reannouncements: got ${c.reannouncements}; want at least 1`);
  t.equal(a.announcements - before, 3 * c.reannouncements, `a's announcements since the split: got ${a.announcements - before}; want a full round (3) per reannouncement`);
  t.equal(b.vipsUp, false, 'b gave the VIPs up');
});

t.test('runner: a deferred timer firing is dropped when the timer was re-armed meanwhile', async (t) => {
  const clock = new FakeClock();
  const machine = new VrrpMachine({ priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: '10.0.0.2', garp: { count: 1, spacingMs: 0 } });
  const deferred: Array<() => void> = [];
  const runner = new VrrpRunner({ machine, clock, defer: (fn) => deferred.push(fn), onAction: () => undefined });
  runner.dispatch({ type: 'startup' });
  clock.advance(400);
  t.equal(deferred.length, 1, 'the Master_Down firing waits behind pending I/O');
  t.equal(machine.state, 'backup', 'not acted on yet');
  // The master's advert was waiting to be read: it re-arms Master_Down.
  runner.dispatch({ type: 'advert', priority: 150, intervalMs: 100, src: '10.0.0.3' });
  deferred.shift()!();
  t.equal(machine.state, 'backup', `after the stale firing: got ${machine.state}; want backup`);
  t.equal(runner.droppedFirings(), 1);
  // With no advert in between, the deferred firing takes effect.
  clock.advance(400);
  deferred.shift()!();
  t.equal(machine.state, 'master', `a real timeout: got ${machine.state}; want master`);
  runner.close();
});

t.test('reannounce: a master starts a fresh round unless one runs; others ignore it', async (t) => {
  const m = new VrrpMachine({ priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, localAddress: '10.0.0.2', garp: { count: 2, spacingMs: 50 } });
  const types = (as: Action[]): string[] => as.map((a) => (a.type === 'armTimer' || a.type === 'cancelTimer' ? `${a.type}:${a.timer}` : a.type));
  m.handle({ type: 'startup' });
  t.same(m.handle({ type: 'reannounce' }), [], 'a backup has nothing to announce');
  m.handle({ type: 'timer', timer: 'masterDown' });
  t.same(m.handle({ type: 'reannounce' }), [], 'a round is under way (garp timer armed)');
  m.handle({ type: 'timer', timer: 'garp' });
  t.same(types(m.handle({ type: 'reannounce' })), ['announce', 'armTimer:garp'], 'a fresh round of 2');
  t.equal(m.status().counters.reannouncements, 1);
});
