// A steady beat for probes: the n-th tick is due at start + n × interval on
// the monotonic clock, not interval after the previous tick ran. Timers
// fire late on a busy box (a few ms a tick is common); rescheduled from
// when they ran, as setInterval does, those delays add up and a path at
// 50/s sent about 40/s. Here a late tick only delays that tick: the ones
// after it keep their times, and ticks missed in a short stall are sent at
// once, one after the other. After a stall longer than maxBehindMs the beat
// starts again from now instead of sending a burst.
import type { Clock, TimerHandle } from '../lib/clock/index.js';

export class Ticker {
  private timer: TimerHandle | undefined;
  private t0 = 0;
  private n = 0;
  private on = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly tick: () => void,
    private readonly maxBehindMs = 1000,
  ) {}

  get running(): boolean { return this.on; }

  /** Tick now, then every intervalMs. */
  start(): void {
    if (this.on) return;
    this.on = true;
    this.t0 = this.clock.monotonic();
    this.n = 0;
    this.tick();
    this.next();
  }

  stop(): void {
    this.on = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private next(): void {
    if (!this.on) return;
    this.n++;
    const now = this.clock.monotonic();
    let due = this.t0 + this.n * this.intervalMs;
    if (now - due > this.maxBehindMs) {
      this.t0 = now;
      this.n = 1;
      due = now + this.intervalMs;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.on) return;
      this.tick();
      this.next();
    }, Math.max(0, due - now));
  }
}
