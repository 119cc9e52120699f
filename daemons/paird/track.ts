// Priority tracking without scripts: the configured priority minus the weight
// of every tracked WAN or path that is down, where a recovered one gives its
// weight back only after staying up for the hold-down time.
import { TernError } from '../lib/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';

/** A tracked WAN (`isp-a`) or path (`isp-a/home/isp-b`) and the priority it costs while down. */
export interface TrackItem {
  name: string;
  /** 1-254. */
  weight: number;
}

/** up: costs nothing. down: costs its weight. holding: up again, still costing until the hold-down ends. */
export type TrackState = 'up' | 'down' | 'holding';

export interface TrackItemStatus extends TrackItem {
  state: TrackState;
  /** While holding: ms until the weight is given back. */
  holdRemainingMs?: number;
}

export interface TrackerOptions {
  /** The configured priority, 1-255. 255 (address owner) is never lowered. */
  basePriority: number;
  items: TrackItem[];
  /** A recovered item must stay up this long before its weight is given back. */
  holdDownMs: number;
  /** Default systemClock; tests pass a FakeClock. */
  clock?: Clock;
  /** Called whenever the effective priority changes, with the reasons. */
  onChange?: (priority: number, why: string[]) => void;
}

interface Item {
  name: string;
  weight: number;
  state: TrackState;
  holdUntil: number;
  timer: TimerHandle | undefined;
}

const argError = (what: string, got: unknown, want: string): TernError =>
  new TernError('TERN_E_PAIRD_ARG', `paird: track: got ${what} ${JSON.stringify(got)}; want ${want}`);

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

// U+2212, so "−60" reads as a subtraction and not a hyphenated word.
const minus = '\u2212';

/**
 * The effective VRRP priority from the health of tracked WANs and paths.
 *
 * Going down costs the weight at once (failover should be fast); coming back
 * gives it back only after holdDownMs of being up without a break, so a
 * flapping WAN does not bounce the VIPs between the boxes (hysteresis). Until
 * its first report an item counts as up.
 *
 * The result is clamped to 1-254: 0 on the wire means "the master resigns"
 * and 255 belongs to the address owner. An owner (base 255) is never lowered:
 * RFC 9568 has the owner always win, so tracking cannot hand its addresses
 * away (the config refuses `track` with priority 255 for that reason).
 */
export class PriorityTracker {
  private readonly base: number;
  private readonly holdDownMs: number;
  private readonly clock: Clock;
  private readonly onChange: ((priority: number, why: string[]) => void) | undefined;
  private readonly items = new Map<string, Item>();
  private current: number;

  constructor(opts: TrackerOptions) {
    if (!isInt(opts.basePriority, 1, 255)) throw argError('basePriority', opts.basePriority, 'an integer 1-255');
    if (!isInt(opts.holdDownMs, 0, Number.MAX_SAFE_INTEGER)) throw argError('holdDownMs', opts.holdDownMs, 'an integer >= 0');
    for (const it of opts.items) {
      if (typeof it.name !== 'string' || it.name === '') throw argError('item name', it.name, 'a WAN or path name');
      if (this.items.has(it.name)) throw argError('item name', it.name, 'each WAN or path tracked once');
      if (!isInt(it.weight, 1, 254)) throw argError(`weight of ${it.name}`, it.weight, 'an integer 1-254');
      this.items.set(it.name, { name: it.name, weight: it.weight, state: 'up', holdUntil: 0, timer: undefined });
    }
    this.base = opts.basePriority;
    this.holdDownMs = opts.holdDownMs;
    this.clock = opts.clock ?? systemClock;
    this.onChange = opts.onChange;
    this.current = this.compute();
  }

  /** The effective priority now. */
  priority(): number { return this.current; }

  /** Reports a tracked item up or down (from probed's WAN and path facts). */
  set(name: string, up: boolean): void {
    const it = this.items.get(name);
    if (!it) throw argError('tracked item', name, `one of ${[...this.items.keys()].join(', ') || '(none tracked)'}`);
    if (up) {
      if (it.state !== 'down') return; // up stays up; holding keeps its running hold-down
      if (this.holdDownMs === 0) {
        it.state = 'up';
      } else {
        it.state = 'holding';
        it.holdUntil = this.clock.monotonic() + this.holdDownMs;
        it.timer = this.clock.setTimeout(() => {
          it.timer = undefined;
          it.state = 'up';
          this.update();
        }, this.holdDownMs);
      }
    } else {
      if (it.state === 'down') return;
      this.clock.clearTimeout(it.timer);
      it.timer = undefined;
      it.state = 'down';
    }
    this.update();
  }

  /** Why the priority is what it is, one line per cost, e.g. `isp-a down: −60`. */
  why(): string[] {
    if (this.base === 255) return this.items.size > 0 ? ['address owner (priority 255): tracking does not apply'] : [];
    const out: string[] = [];
    let total = 0;
    for (const it of this.items.values()) {
      if (it.state === 'up') continue;
      total += it.weight;
      if (it.state === 'down') out.push(`${it.name} down: ${minus}${it.weight}`);
      else out.push(`${it.name} up, held down ${this.remaining(it)} ms more: ${minus}${it.weight}`);
    }
    if (this.base - total < 1) out.push(`clamped to 1: base ${this.base} ${minus} ${total}`);
    return out;
  }

  /** Every tracked item with its state. */
  status(): TrackItemStatus[] {
    return [...this.items.values()].map((it) => {
      const s: TrackItemStatus = { name: it.name, weight: it.weight, state: it.state };
      if (it.state === 'holding') s.holdRemainingMs = this.remaining(it);
      return s;
    });
  }

  /** Cancels every hold-down timer. */
  close(): void {
    for (const it of this.items.values()) {
      this.clock.clearTimeout(it.timer);
      it.timer = undefined;
    }
  }

  private remaining(it: Item): number {
    return Math.max(0, it.holdUntil - this.clock.monotonic());
  }

  private compute(): number {
    if (this.base === 255) return 255;
    let p = this.base;
    for (const it of this.items.values()) if (it.state !== 'up') p -= it.weight;
    return Math.min(254, Math.max(1, p));
  }

  private update(): void {
    const p = this.compute();
    if (p === this.current) return;
    this.current = p;
    this.onChange?.(p, this.why());
  }
}
