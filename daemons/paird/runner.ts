// Drives a VrrpMachine on a Clock: executes its timer actions, feeds timer
// firings back in, and hands every other action to the daemon's callback.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import type { Action, MachineEvent, TimerName, VrrpMachine } from './machine.js';

export interface RunnerOptions {
  machine: VrrpMachine;
  /** Default systemClock; tests pass a FakeClock. */
  clock?: Clock;
  /** Everything but timers: send adverts, move VIPs, announce, log transitions. */
  onAction: (action: Action) => void;
  /**
   * Runs a timer firing; default at once. The daemon passes setImmediate:
   * after a stall (GC, starved CPU) Node runs expired timers before pending
   * I/O, so a backup would time out on a master whose adverts are already
   * waiting to be read. Deferred, the firing comes after those adverts, and
   * is dropped if one of them re-armed the timer meanwhile.
   */
  defer?: (fn: () => void) => void;
  /**
   * Called when onAction throws. The remaining actions of the event still run,
   * so a failed send never leaves a timer unarmed. Default: rethrow the first
   * error once all actions have run — from a timer that is an uncaught
   * exception, so a daemon passes its own (log and count).
   */
  onError?: (err: unknown, action: Action) => void;
}

export class VrrpRunner {
  private readonly machine: VrrpMachine;
  private readonly clock: Clock;
  private readonly onAction: (action: Action) => void;
  private readonly onError: ((err: unknown, action: Action) => void) | undefined;
  private readonly timers = new Map<TimerName, TimerHandle>();
  private readonly defer: ((fn: () => void) => void) | undefined;
  /** Bumped on every arm and cancel: a deferred firing of an older arming is stale. */
  private readonly generation = new Map<TimerName, number>();
  /** Firings dropped because the timer was re-armed or cancelled while they waited. */
  private staleFirings = 0;
  private readonly queue: MachineEvent[] = [];
  private running = false;
  private closed = false;

  constructor(opts: RunnerOptions) {
    this.machine = opts.machine;
    this.clock = opts.clock ?? systemClock;
    this.onAction = opts.onAction;
    this.onError = opts.onError;
    this.defer = opts.defer;
  }

  /**
   * Feeds an event. An event dispatched from inside onAction is queued and
   * handled after the current one, so the machine never re-enters itself.
   */
  dispatch(ev: MachineEvent): void {
    if (this.closed) return;
    this.queue.push(ev);
    if (this.running) return;
    this.running = true;
    let firstError: unknown;
    let failed = false;
    try {
      while (this.queue.length > 0) {
        const next = this.queue.shift() as MachineEvent;
        for (const action of this.machine.handle(next)) {
          try {
            this.execute(action);
          } catch (err) {
            if (this.onError) this.onError(err, action);
            else if (!failed) { failed = true; firstError = err; }
          }
        }
      }
    } finally {
      this.running = false;
    }
    if (failed) throw firstError;
  }

  /** Number of armed timers (tests check cleanup with it). */
  armedTimers(): number { return this.timers.size; }

  /** Deferred firings dropped as stale (see defer). */
  droppedFirings(): number { return this.staleFirings; }

  /** Cancels every timer and ignores further events. */
  close(): void {
    this.closed = true;
    for (const h of this.timers.values()) this.clock.clearTimeout(h);
    this.timers.clear();
    this.queue.length = 0;
  }

  private bump(timer: TimerName): number {
    const gen = (this.generation.get(timer) ?? 0) + 1;
    this.generation.set(timer, gen);
    return gen;
  }

  private execute(action: Action): void {
    if (action.type === 'armTimer') {
      this.clock.clearTimeout(this.timers.get(action.timer));
      const gen = this.bump(action.timer);
      const h = this.clock.setTimeout(() => {
        this.timers.delete(action.timer);
        if (!this.defer) {
          this.dispatch({ type: 'timer', timer: action.timer });
          return;
        }
        this.defer(() => {
          if (this.generation.get(action.timer) !== gen) {
            this.staleFirings++;
            return;
          }
          this.dispatch({ type: 'timer', timer: action.timer });
        });
      }, action.ms);
      this.timers.set(action.timer, h);
    } else if (action.type === 'cancelTimer') {
      this.clock.clearTimeout(this.timers.get(action.timer));
      this.timers.delete(action.timer);
      this.bump(action.timer);
    } else {
      this.onAction(action);
    }
  }
}
