// The VRRPv3 state machine of RFC 9568 section 6.4 (Initialize, Backup,
// Master), kept pure: events go in, actions come out. Timers are actions too
// (arm, cancel); a runner executes them on a Clock and feeds the firings back.
import { TernError } from '../lib/errors.js';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { addressBytes, compareAddresses, formatAddressBytes } from './addr.js';
import { discardReasons, maxIntervalCs, type DiscardReason } from './packet.js';

export type State = 'initialize' | 'backup' | 'master';

/**
 * masterDown: Master_Down_Timer (backup). advert: Adver_Timer (master).
 * preemptDelay: holds preemption after startup. garp: spaces the announcements.
 */
export type TimerName = 'masterDown' | 'advert' | 'preemptDelay' | 'garp';

export type MachineEvent =
  | { type: 'startup' }
  | { type: 'shutdown' }
  /** A valid advert for this VRID from another router (decoded, checks passed). */
  | { type: 'advert'; priority: number; intervalMs: number; src: string }
  | { type: 'timer'; timer: TimerName }
  /** The effective priority changed (tracking); 1-255. */
  | { type: 'priority'; priority: number }
  /** An advert the codec discarded; only counted. */
  | { type: 'discard'; reason: DiscardReason }
  /**
   * Another router may have been master (pair sync saw the peer claim it,
   * drop it, or come back from silence): a master announces its VIPs again.
   */
  | { type: 'reannounce' };

/** Why the state changed; `detail` on the transition says it in words. */
export type TransitionReason =
  | 'startup' // Initialize -> Backup
  | 'owner' // address owner (priority 255) takes over at once
  | 'masterDown' // no advert for Master_Down_Interval
  | 'masterResigned' // the master sent priority 0; Skew_Time passed
  | 'preempt' // lower-priority master's adverts ignored until the timer ran out
  | 'higherPriority' // master heard a higher priority, or an equal one from a higher address
  | 'shutdown'; // -> Initialize

export type Action =
  /** Send one advert with this priority and interval (the daemon adds the VIPs). */
  | { type: 'sendAdvert'; priority: number; intervalMs: number }
  /** Put the VIPs on the interface (idempotent). */
  | { type: 'addVips' }
  /** Take the VIPs off the interface (idempotent; also sent on entering Backup from Initialize, to clear what a crash left). */
  | { type: 'removeVips' }
  /** Send gratuitous ARP / unsolicited NA for every VIP: number seq of count. */
  | { type: 'announce'; seq: number; count: number }
  /** Start (or restart) a timer. */
  | { type: 'armTimer'; timer: TimerName; ms: number }
  | { type: 'cancelTimer'; timer: TimerName }
  | { type: 'transition'; from: State; to: State; reason: TransitionReason; detail: string };

export interface MachineOptions {
  /** Effective priority, 1-255; 255 only for the address owner. */
  priority: number;
  /** Advertisement_Interval in ms, a multiple of 10 from 10 to 40950. */
  advertIntervalMs: number;
  /** Preempt_Mode: a higher-priority backup takes over from a lower-priority master. */
  preempt: boolean;
  /** After startup, hold preemption this long (0: none). */
  preemptDelayMs: number;
  /** This router's primary address on the VRRP interface: the tie-break for equal priorities. */
  localAddress: string;
  /** Announcements on becoming master: how many, how far apart. */
  garp: { count: number; spacingMs: number };
  /** Wall clock for the times people read (last transition); default systemClock. */
  clock?: Pick<Clock, 'now'>;
}

export interface Transition {
  /** Wall-clock ms. */
  at: number;
  from: State;
  to: State;
  reason: TransitionReason;
  detail: string;
}

export interface Counters {
  advertsSent: number;
  advertsReceived: number;
  /** Adverts the codec dropped, by rule. */
  discards: Record<DiscardReason, number>;
  /** Lower-priority adverts a preempting backup ignored (RFC 9568 6.4.2). */
  lowerPriorityIgnored: number;
  /** Lower-priority adverts a master answered with an advert of its own (RFC 9568 6.4.3). */
  lowerPriorityAnswered: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  /** Adverts whose interval differs from ours: not dropped, but a misconfiguration to log (RFC 9568 7.1). */
  intervalMismatches: number;
  /** Gratuitous ARP / NA rounds asked for. */
  announcements: number;
  /** Announcement bursts restarted because another router advertised as master with a lower priority. */
  reannouncements: number;
  transitions: number;
  becameMaster: number;
  becameBackup: number;
  /** Timer firings for a timer no longer armed (ignored). */
  staleTimers: number;
  lastTransition?: Transition;
}

export interface MachineStatus {
  state: State;
  priority: number;
  advertIntervalMs: number;
  /** The interval backups time out on: the master's advertised one once heard. */
  masterAdverIntervalMs: number;
  skewMs: number;
  masterDownIntervalMs: number;
  preempt: boolean;
  /** True while the preempt delay after startup runs. */
  preemptHeld: boolean;
  /** The master as this router knows it: itself, or the last accepted advert's sender. */
  master?: { address: string; priority: number };
  counters: Counters;
}

const argError = (what: string, got: unknown, want: string): TernError =>
  new TernError('TERN_E_PAIRD_ARG', `paird: vrrp machine: got ${what} ${JSON.stringify(got)}; want ${want}`);

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Skew_Time (RFC 9568 6.1) in ms: ((256 - priority) x Master_Adver_Interval) / 256. */
export const skewTime = (priority: number, masterAdverIntervalMs: number): number =>
  ((256 - priority) * masterAdverIntervalMs) / 256;

/** Master_Down_Interval (RFC 9568 6.1) in ms: 3 x Master_Adver_Interval + Skew_Time. */
export const masterDownInterval = (priority: number, masterAdverIntervalMs: number): number =>
  3 * masterAdverIntervalMs + skewTime(priority, masterAdverIntervalMs);

/** One virtual router's election. Not thread-safe; one runner drives it. */
export class VrrpMachine {
  private st: State = 'initialize';
  private prio: number;
  private readonly advertIntervalMs: number;
  private readonly preempt: boolean;
  private readonly preemptDelayMs: number;
  private readonly local: Uint8Array;
  private readonly garp: { count: number; spacingMs: number };
  private readonly clock: Pick<Clock, 'now'>;
  private masterAdverIntervalMs: number;
  private preemptHeld = false;
  private armed = new Set<TimerName>();
  private garpSent = 0;
  // What arming masterDown last meant, so the takeover names its real cause.
  private downCause: TransitionReason = 'masterDown';
  private masterSeen: { address: string; priority: number } | undefined;
  private readonly counters: Counters;

  constructor(opts: MachineOptions) {
    if (!isInt(opts.priority, 1, 255)) throw argError('priority', opts.priority, 'an integer 1-255');
    if (!isInt(opts.advertIntervalMs, 10, maxIntervalCs * 10) || opts.advertIntervalMs % 10 !== 0) {
      throw argError('advertIntervalMs', opts.advertIntervalMs, `a multiple of 10 from 10 to ${maxIntervalCs * 10}`);
    }
    if (!isInt(opts.preemptDelayMs, 0, Number.MAX_SAFE_INTEGER)) throw argError('preemptDelayMs', opts.preemptDelayMs, 'an integer >= 0');
    if (!isInt(opts.garp?.count, 0, 1000) || !isInt(opts.garp?.spacingMs, 0, 3600000)) {
      throw argError('garp', opts.garp, '{count: 0-1000, spacingMs: 0-3600000}');
    }
    const local = addressBytes(opts.localAddress);
    if (!local) throw argError('localAddress', opts.localAddress, 'an IPv4 or IPv6 address');
    this.prio = opts.priority;
    this.advertIntervalMs = opts.advertIntervalMs;
    this.masterAdverIntervalMs = opts.advertIntervalMs;
    this.preempt = opts.preempt === true;
    this.preemptDelayMs = opts.preemptDelayMs;
    this.local = local;
    this.garp = { count: opts.garp.count, spacingMs: opts.garp.spacingMs };
    this.clock = opts.clock ?? systemClock;
    this.counters = {
      advertsSent: 0, advertsReceived: 0,
      discards: Object.fromEntries(discardReasons.map((r) => [r, 0])) as Record<DiscardReason, number>,
      lowerPriorityIgnored: 0, lowerPriorityAnswered: 0, priorityZeroSent: 0, priorityZeroReceived: 0, intervalMismatches: 0,
      announcements: 0, reannouncements: 0, transitions: 0, becameMaster: 0, becameBackup: 0, staleTimers: 0,
    };
  }

  get state(): State { return this.st; }
  get priority(): number { return this.prio; }

  status(): MachineStatus {
    const s: MachineStatus = {
      state: this.st,
      priority: this.prio,
      advertIntervalMs: this.advertIntervalMs,
      masterAdverIntervalMs: this.masterAdverIntervalMs,
      skewMs: skewTime(this.prio, this.masterAdverIntervalMs),
      masterDownIntervalMs: masterDownInterval(this.prio, this.masterAdverIntervalMs),
      preempt: this.preempt,
      preemptHeld: this.preemptHeld,
      counters: { ...this.counters, discards: { ...this.counters.discards } },
    };
    if (this.st === 'master') s.master = { address: formatAddressBytes(this.local), priority: this.prio };
    else if (this.st === 'backup' && this.masterSeen) s.master = { ...this.masterSeen };
    return s;
  }

  /** Feeds one event; returns what to do, in order. */
  handle(ev: MachineEvent): Action[] {
    const out: Action[] = [];
    switch (ev.type) {
      case 'startup': this.onStartup(out); break;
      case 'shutdown': this.onShutdown(out); break;
      case 'advert': this.onAdvert(ev, out); break;
      case 'timer': this.onTimer(ev.timer, out); break;
      case 'priority': this.onPriority(ev.priority, out); break;
      case 'discard': this.counters.discards[ev.reason] = (this.counters.discards[ev.reason] ?? 0) + 1; break;
      case 'reannounce': if (this.st === 'master') this.reannounce(out); break;
    }
    return out;
  }

  private onStartup(out: Action[]): void {
    if (this.st !== 'initialize') return;
    if (this.prio === 255) {
      this.toMaster(out, 'owner', 'this router owns the addresses (priority 255)');
      return;
    }
    this.masterAdverIntervalMs = this.advertIntervalMs;
    if (this.preempt && this.preemptDelayMs > 0) {
      this.preemptHeld = true;
      this.arm(out, 'preemptDelay', this.preemptDelayMs);
    }
    this.transition(out, 'backup', 'startup', 'started; waiting Master_Down_Interval for a master');
    out.push({ type: 'removeVips' });
    this.downCause = 'masterDown';
    this.arm(out, 'masterDown', this.masterDownMs());
  }

  private onShutdown(out: Action[]): void {
    if (this.st === 'master') {
      this.cancel(out, 'advert');
      this.cancel(out, 'garp');
      this.cancel(out, 'preemptDelay');
      // RFC 9568 6.4.3: priority 0 lets the backup take over after Skew_Time instead of Master_Down_Interval.
      this.send(out, 0);
      out.push({ type: 'removeVips' });
      this.transition(out, 'initialize', 'shutdown', 'shut down; sent priority 0 so the backup takes over after Skew_Time');
    } else if (this.st === 'backup') {
      this.cancel(out, 'masterDown');
      this.cancel(out, 'preemptDelay');
      this.transition(out, 'initialize', 'shutdown', 'shut down');
    }
    this.preemptHeld = false;
    this.masterSeen = undefined;
  }

  private onAdvert(ev: { priority: number; intervalMs: number; src: string }, out: Action[]): void {
    if (this.st === 'initialize') return;
    const src = addressBytes(ev.src);
    if (!src || !isInt(ev.priority, 0, 255) || !isInt(ev.intervalMs, 10, maxIntervalCs * 10)) {
      throw argError('advert', ev, 'a decoded advert: priority 0-255, intervalMs 10-40950, src an address');
    }
    this.counters.advertsReceived++;
    if (ev.priority === 0) this.counters.priorityZeroReceived++;
    if (ev.intervalMs !== this.advertIntervalMs) this.counters.intervalMismatches++;
    const srcText = formatAddressBytes(src);

    if (this.st === 'backup') {
      if (ev.priority === 0) {
        this.downCause = 'masterResigned';
        this.arm(out, 'masterDown', skewTime(this.prio, this.masterAdverIntervalMs));
        return;
      }
      if (!this.preemptsNow() || ev.priority >= this.prio) {
        this.masterAdverIntervalMs = ev.intervalMs;
        this.masterSeen = { address: srcText, priority: ev.priority };
        this.downCause = 'masterDown';
        this.arm(out, 'masterDown', this.masterDownMs());
        return;
      }
      // Preempting: let the lower-priority master's adverts go unheard until the timer fires.
      this.counters.lowerPriorityIgnored++;
      this.downCause = 'preempt';
      return;
    }

    // Master.
    if (ev.priority === 0) {
      this.send(out, this.prio);
      this.arm(out, 'advert', this.advertIntervalMs);
      return;
    }
    const cmp = compareAddresses(src, this.local);
    if (ev.priority > this.prio || (ev.priority === this.prio && cmp > 0)) {
      this.cancel(out, 'advert');
      this.cancel(out, 'garp');
      this.masterAdverIntervalMs = ev.intervalMs;
      this.masterSeen = { address: srcText, priority: ev.priority };
      const why = ev.priority > this.prio
        ? `heard priority ${ev.priority} from ${srcText}, above ours (${this.prio})`
        : `heard our priority ${ev.priority} from ${srcText}, a higher address than ours`;
      this.transition(out, 'backup', 'higherPriority', why);
      out.push({ type: 'removeVips' });
      this.downCause = 'masterDown';
      this.arm(out, 'masterDown', this.masterDownMs());
      return;
    }
    // RFC 9568 6.4.3: answer a lower-priority advert at once, so its sender steps down and bridges relearn.
    this.counters.lowerPriorityAnswered++;
    this.send(out, this.prio);
    this.arm(out, 'advert', this.advertIntervalMs);
    // Backups never advertise, so the sender believes it is master (a split
    // brain healing, or a crashed peer's restart): hosts may have learnt its
    // MAC for the VIPs. Announce them again.
    this.reannounce(out);
  }

  /** A fresh round of announcements, unless one is under way. */
  private reannounce(out: Action[]): void {
    if (this.armed.has('garp')) return;
    this.counters.reannouncements++;
    this.garpSent = 0;
    this.announce(out);
  }

  private onTimer(timer: TimerName, out: Action[]): void {
    if (!this.armed.has(timer)) {
      this.counters.staleTimers++;
      return;
    }
    this.armed.delete(timer);
    switch (timer) {
      case 'masterDown': {
        const detail = {
          masterDown: `no advert for Master_Down_Interval (${this.masterDownMs()} ms)`,
          masterResigned: `the master resigned (priority 0); Skew_Time (${skewTime(this.prio, this.masterAdverIntervalMs)} ms) passed`,
          preempt: `preempting: the master's priority is below ours (${this.prio})`,
        }[this.downCause as 'masterDown' | 'masterResigned' | 'preempt'];
        this.toMaster(out, this.downCause, detail);
        break;
      }
      case 'advert':
        this.send(out, this.prio);
        this.arm(out, 'advert', this.advertIntervalMs);
        break;
      case 'preemptDelay':
        this.preemptHeld = false;
        break;
      case 'garp':
        this.announce(out);
        break;
    }
  }

  private onPriority(priority: number, out: Action[]): void {
    if (!isInt(priority, 1, 255)) throw argError('priority', priority, 'an integer 1-255');
    if (priority === this.prio) return;
    this.prio = priority;
    if (this.st === 'master') {
      // Tell the backups now rather than at the next interval: a preempting
      // backup starts ignoring us one interval sooner.
      this.send(out, this.prio);
      this.arm(out, 'advert', this.advertIntervalMs);
    } else if (this.st === 'backup' && priority === 255) {
      this.cancel(out, 'masterDown');
      this.toMaster(out, 'owner', 'this router now owns the addresses (priority 255)');
    }
  }

  private toMaster(out: Action[], reason: TransitionReason, detail: string): void {
    this.cancel(out, 'masterDown');
    this.transition(out, 'master', reason, detail);
    this.masterSeen = undefined;
    this.send(out, this.prio);
    out.push({ type: 'addVips' });
    this.garpSent = 0;
    this.announce(out);
    this.arm(out, 'advert', this.advertIntervalMs);
  }

  private announce(out: Action[]): void {
    if (this.garpSent >= this.garp.count) return;
    this.garpSent++;
    this.counters.announcements++;
    out.push({ type: 'announce', seq: this.garpSent, count: this.garp.count });
    if (this.garpSent < this.garp.count) this.arm(out, 'garp', this.garp.spacingMs);
  }

  private send(out: Action[], priority: number): void {
    this.counters.advertsSent++;
    if (priority === 0) this.counters.priorityZeroSent++;
    out.push({ type: 'sendAdvert', priority, intervalMs: this.advertIntervalMs });
  }

  private transition(out: Action[], to: State, reason: TransitionReason, detail: string): void {
    const from = this.st;
    this.st = to;
    this.counters.transitions++;
    if (to === 'master') this.counters.becameMaster++;
    if (to === 'backup') this.counters.becameBackup++;
    this.counters.lastTransition = { at: this.clock.now(), from, to, reason, detail };
    out.push({ type: 'transition', from, to, reason, detail });
  }

  private arm(out: Action[], timer: TimerName, ms: number): void {
    this.armed.add(timer);
    out.push({ type: 'armTimer', timer, ms });
  }

  private cancel(out: Action[], timer: TimerName): void {
    if (!this.armed.delete(timer)) return;
    out.push({ type: 'cancelTimer', timer });
  }

  // The address owner always preempts (RFC 9568 6.1, Preempt_Mode).
  private preemptsNow(): boolean {
    return this.prio === 255 || (this.preempt && !this.preemptHeld);
  }

  private masterDownMs(): number {
    return masterDownInterval(this.prio, this.masterAdverIntervalMs);
  }
}
