// Package clock gives every component its notion of time, so tests can run
// timers on fake time instead of waiting.

/** An opaque timer handle returned by a Clock. */
export interface TimerHandle {
  /** Keep the process alive for this timer or not (Node semantics). */
  unref?(): void;
}

/**
 * The time and timer interface every component takes as an option. The
 * default is systemClock; unit tests pass a FakeClock.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for timestamps people read). */
  now(): number;
  /** Monotonic milliseconds (for intervals and timeouts; never jumps). */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(h: TimerHandle | undefined): void;
}

/** The real clock: Date.now, performance.now and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => { if (h) clearTimeout(h as NodeJS.Timeout); },
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => { if (h) clearInterval(h as NodeJS.Timeout); },
};

interface FakeTimer extends TimerHandle {
  id: number;
  at: number;
  every: number | undefined;
  fn: () => void;
}

/**
 * A clock that moves only when told to. advance(ms) fires due timers in
 * order of their due time (ties by creation order), including timers they
 * schedule while advancing.
 */
export class FakeClock implements Clock {
  private mono: number;
  private wall: number;
  private nextId = 1;
  private timers = new Map<number, FakeTimer>();

  constructor(opts: { now?: number; monotonic?: number } = {}) {
    this.wall = opts.now ?? Date.UTC(2026, 0, 1);
    this.mono = opts.monotonic ?? 0;
  }

  now(): number { return this.wall; }
  monotonic(): number { return this.mono; }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.timers.delete((h as FakeTimer).id);
  }

  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }

  /** How many timers are pending (tests use it to check cleanup). */
  pending(): number { return this.timers.size; }

  /** Move time forward by ms, firing every timer that falls due. */
  advance(ms: number): void {
    const target = this.mono + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.wall += next.at - this.mono;
      this.mono = next.at;
      if (next.every !== undefined) next.at += next.every;
      else this.timers.delete(next.id);
      next.fn();
    }
    this.wall += target - this.mono;
    this.mono = target;
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const t: FakeTimer = { id: this.nextId++, at: this.mono + Math.max(0, ms), every, fn, unref() {} };
    this.timers.set(t.id, t);
    return t;
  }
}
