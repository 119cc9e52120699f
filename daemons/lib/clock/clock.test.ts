import t from 'tap';
import { FakeClock, systemClock } from './index.js';

t.test('FakeClock fires timers in due order, including ones scheduled while advancing', async (t) => {
  const c = new FakeClock({ monotonic: 0, now: 0 });
  const fired: string[] = [];
  c.setTimeout(() => fired.push('b@20'), 20);
  c.setTimeout(() => {
    fired.push('a@10');
    c.setTimeout(() => fired.push('c@15'), 5);
  }, 10);
  const never = c.setTimeout(() => fired.push('never'), 15);
  c.clearTimeout(never);
  c.advance(25);
  t.same(fired, ['a@10', 'c@15', 'b@20']);
  t.equal(c.monotonic(), 25);
  t.equal(c.now(), 25);
  t.equal(c.pending(), 0, `got ${c.pending()} pending timers; want 0`);
});

t.test('FakeClock intervals repeat until cleared', async (t) => {
  const c = new FakeClock();
  let n = 0;
  const h = c.setInterval(() => { n++; }, 100);
  c.advance(1000);
  t.equal(n, 10, `got ${n} ticks; want 10`);
  c.clearInterval(h);
  c.advance(1000);
  t.equal(n, 10);
});

t.test('systemClock is monotonic and timers work', async (t) => {
  const a = systemClock.monotonic();
  await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
  t.ok(systemClock.monotonic() >= a);
  t.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
});
