import t from 'tap';
import { FakeClock, type Clock } from '../lib/clock/index.js';
import { Ticker } from './ticker.js';

/** A fake clock whose timers all fire lateMs late, like a busy event loop. */
function lateClock(lateMs: number): FakeClock & Clock {
  const c = new FakeClock({ monotonic: 0 });
  const setTimeout = c.setTimeout.bind(c);
  c.setTimeout = (fn, ms) => setTimeout(fn, ms + lateMs);
  return c;
}

t.test('late timers do not lower the rate', async (t) => {
  for (const late of [0, 3, 15]) {
    const clock = lateClock(late);
    let ticks = 0;
    const k = new Ticker(clock, 20, () => { ticks++; });
    k.start();
    clock.advance(10_000);
    k.stop();
    // setInterval rescheduled from each late run would give 10000 / (20 + late).
    t.ok(ticks >= 500 && ticks <= 501, `late ${late} ms: got ${ticks} ticks in 10 s at 50/s; want 500-501`);
  }
});

t.test('a stall longer than maxBehindMs restarts the beat instead of a burst', async (t) => {
  const clock = new FakeClock({ monotonic: 0 });
  const setTimeout = clock.setTimeout.bind(clock);
  let n = 0;
  // The third timer fires 5 s late: the event loop was stuck.
  clock.setTimeout = (fn, ms) => setTimeout(fn, ms + (++n === 3 ? 5000 : 0));
  const at: number[] = [];
  const k = new Ticker(clock, 100, () => at.push(clock.monotonic()), 1000);
  k.start();
  clock.advance(5300 + 350);
  k.stop();
  const after = at.filter((x) => x >= 5300);
  t.ok(after.length >= 3 && after.length <= 5, `got ${after.length} ticks in the 350 ms after a 5 s stall; want 4 (no burst of 50)`);
  t.equal(clock.pending(), 0, 'stop clears the timer');
});

t.test('stop inside a tick stops the beat', async (t) => {
  const clock = new FakeClock();
  let ticks = 0;
  const k: Ticker = new Ticker(clock, 10, () => { if (++ticks === 3) k.stop(); });
  k.start();
  clock.advance(1000);
  t.equal(ticks, 3);
  t.equal(k.running, false);
});
