import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import { PriorityTracker, type TrackItem } from './track.js';

const items: TrackItem[] = [{ name: 'isp-a', weight: 60 }, { name: 'isp-b', weight: 50 }, { name: 'isp-a/home/isp-c', weight: 30 }];
const m = '\u2212';

t.test('priority is base minus the weights of what is down, clamped to 1-254', async (t) => {
  const cases: { name: string; base: number; down: string[]; want: number; why: string[] }[] = [
    { name: 'all up', base: 150, down: [], want: 150, why: [] },
    { name: 'one WAN down', base: 150, down: ['isp-a'], want: 90, why: [`isp-a down: ${m}60`] },
    { name: 'a path down', base: 150, down: ['isp-a/home/isp-c'], want: 120, why: [`isp-a/home/isp-c down: ${m}30`] },
    { name: 'two down', base: 150, down: ['isp-a', 'isp-b'], want: 40, why: [`isp-a down: ${m}60`, `isp-b down: ${m}50`] },
    { name: 'all down: clamped to 1, never 0', base: 100, down: ['isp-a', 'isp-b', 'isp-a/home/isp-c'], want: 1, why: [`isp-a down: ${m}60`, `isp-b down: ${m}50`, `isp-a/home/isp-c down: ${m}30`, `clamped to 1: base 100 ${m} 140`] },
    { name: 'exactly 1', base: 61, down: ['isp-a'], want: 1, why: [`isp-a down: ${m}60`] },
    { name: 'owner is never lowered', base: 255, down: ['isp-a', 'isp-b'], want: 255, why: ['address owner (priority 255): tracking does not apply'] },
  ];
  for (const c of cases) {
    const tr = new PriorityTracker({ basePriority: c.base, items, holdDownMs: 2_000, clock: new FakeClock() });
    for (const d of c.down) tr.set(d, false);
    t.equal(tr.priority(), c.want, `${c.name}: got ${tr.priority()}; want ${c.want}`);
    t.same(tr.why(), c.why, `${c.name}: why`);
    tr.close();
  }
});

t.test('down costs at once; up gives back only after holdDownMs without a break', async (t) => {
  const clock = new FakeClock();
  const changes: number[] = [];
  const tr = new PriorityTracker({ basePriority: 150, items, holdDownMs: 2_000, clock, onChange: (p) => changes.push(p) });
  tr.set('isp-a', false);
  t.same(changes, [90], 'down: applied at once');
  tr.set('isp-a', false);
  t.same(changes, [90], 'down again: no change reported');
  tr.set('isp-a', true);
  clock.advance(500);
  t.same(tr.status()[0], { name: 'isp-a', weight: 60, state: 'holding', holdRemainingMs: 1_500 });
  t.same(tr.why(), [`isp-a up, held down 1500 ms more: ${m}60`]);
  tr.set('isp-a', true);
  clock.advance(1_499);
  t.equal(tr.priority(), 90, 'repeated up reports do not restart or shorten the hold-down');
  clock.advance(1);
  t.equal(tr.priority(), 150, 'given back 2000 ms after the first up');
  t.same(changes, [90, 150]);
  // Flap: down during the hold-down cancels it.
  tr.set('isp-b', false);
  tr.set('isp-b', true);
  clock.advance(1_000);
  tr.set('isp-b', false);
  tr.set('isp-b', true);
  clock.advance(1_999);
  t.equal(tr.priority(), 100, `after a flap: got ${tr.priority()}; want 100 until a full hold-down passes`);
  clock.advance(1);
  t.equal(tr.priority(), 150);
  t.same(changes, [90, 150, 100, 150], 'each change reported once');
  tr.close();
  t.equal(clock.pending(), 0);
});

t.test('holdDownMs 0 gives the weight back at once; close cancels hold-downs', async (t) => {
  const clock = new FakeClock();
  const tr = new PriorityTracker({ basePriority: 150, items, holdDownMs: 0, clock });
  tr.set('isp-a', false);
  tr.set('isp-a', true);
  t.equal(tr.priority(), 150);
  t.equal(clock.pending(), 0);
  const tr2 = new PriorityTracker({ basePriority: 150, items, holdDownMs: 5_000, clock });
  tr2.set('isp-b', false);
  tr2.set('isp-b', true);
  t.equal(clock.pending(), 1);
  tr2.close();
  t.equal(clock.pending(), 0, `timers after close: got ${clock.pending()}; want 0`);
});

t.test('bad input is refused', async (t) => {
  const clock = new FakeClock();
  const bad: { name: string; f: () => unknown }[] = [
    { name: 'base 0', f: () => new PriorityTracker({ basePriority: 0, items, holdDownMs: 0, clock }) },
    { name: 'base 256', f: () => new PriorityTracker({ basePriority: 256, items, holdDownMs: 0, clock }) },
    { name: 'weight 0', f: () => new PriorityTracker({ basePriority: 100, items: [{ name: 'x', weight: 0 }], holdDownMs: 0, clock }) },
    { name: 'weight 255', f: () => new PriorityTracker({ basePriority: 100, items: [{ name: 'x', weight: 255 }], holdDownMs: 0, clock }) },
    { name: 'duplicate', f: () => new PriorityTracker({ basePriority: 100, items: [{ name: 'x', weight: 1 }, { name: 'x', weight: 2 }], holdDownMs: 0, clock }) },
    { name: 'negative hold-down', f: () => new PriorityTracker({ basePriority: 100, items, holdDownMs: -1, clock }) },
    { name: 'unknown item', f: () => new PriorityTracker({ basePriority: 100, items, holdDownMs: 0, clock }).set('isp-z', false) },
  ];
  for (const b of bad) t.throws(b.f, { code: 'TERN_E_PAIRD_ARG' }, `${b.name}: want TERN_E_PAIRD_ARG`);
});
