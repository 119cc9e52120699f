// Health state of a path, a WAN probe target, and a WAN: up, degraded or
// down, with hysteresis so a path does not flap, and a reason on every
// transition.
//
//   unknown ──first answer──────────────▶ up ◀──▶ degraded
//      │                                  │          │
//      └──firstAnswerGrace unanswered─▶ down ◀───────┘ (downAfter lost in a row)
//                                     │
//                                     └──upAfter answered in a row──▶ up / degraded
//
// Up/down counts probe outcomes only, never time: at 5 probes/s and
// downAfter 3, a blackholed path is down on its third lost probe. upAfter
// (default 10) is the hold-down on the way back. From unknown (a new path)
// one answer is enough: there is nothing to flap from. A path that has
// never answered is down only after firstAnswerGrace unanswered probes:
// until its first answer nothing was measured (no handshake yet, the far
// end not listening yet), and a tunnel's first handshake may take a retry
// (WireGuard retries after 5 s). A WAN target, probed with plain ICMP, keeps
// downAfter for its lost probes from the start.
//
// Degraded is judged on the window metrics and has its own hysteresis: a
// path becomes degraded when any of loss, RTT or jitter goes above its
// threshold, and stops being degraded only when all three are back at or
// below clearRatio (default 0.8) of their thresholds. Windows with fewer than
// minProbes decided probes are not judged. After an outage the window still
// holds the outage's losses, so a recovered path usually comes back degraded
// and turns up when those losses leave the window: a deliberate second
// hold-down before traffic returns to it.
import { TernError } from '../lib/errors.js';
import type { WindowMetrics } from './metrics.js';
import { checkName, checkNumber } from '../lib/history/validate.js';

export type HealthState = 'unknown' | 'up' | 'degraded' | 'down';

export type TransitionCause =
  | 'first-answer'         // unknown → up
  | 'consecutive-answered' // down → up / degraded
  | 'consecutive-lost'     // → down
  | 'no-answer'            // unknown → down: never answered
  | 'thresholds-exceeded'  // up → degraded
  | 'thresholds-cleared'   // degraded → up
  | 'targets';             // a WAN's state follows its targets

export interface Transition {
  /** The path id or WAN name. */
  subject: string;
  /** The probe target, for a WAN target's own transitions. */
  target?: string;
  from: HealthState;
  to: HealthState;
  cause: TransitionCause;
  /** For people: what was seen, with numbers. */
  reason: string;
}

export interface DegradedThresholds {
  lossPct: number;
  latencyMs: number;
  jitterMs: number;
}

export interface StateOptions {
  /** Consecutive lost probes that mark it down (config probes.downAfter). */
  downAfter: number;
  /** Consecutive answered probes that bring it back from down (config probes.upAfter). */
  upAfter: number;
  /** Above any of these it is degraded (config probes.degraded). */
  degraded: DegradedThresholds;
  /** Degraded clears when every metric is at or below this share of its threshold (default 0.8). */
  clearRatio?: number;
  /** Fewest decided probes in a window for it to be judged (default 5). */
  minProbes?: number;
  /** Unanswered probes that mark a path that never answered down (default downAfter). */
  firstAnswerGrace?: number;
}

/** The window figures the degraded judgement reads. */
export type JudgedMetrics = Pick<WindowMetrics, 'probes' | 'lossPct' | 'rttMs' | 'jitterMs'>;

interface CheckedOptions {
  downAfter: number;
  upAfter: number;
  degraded: DegradedThresholds;
  clearRatio: number;
  minProbes: number;
  firstAnswerGrace: number;
}

function checkOptions(where: string, o: StateOptions): CheckedOptions {
  if (!o || typeof o !== 'object' || !o.degraded || typeof o.degraded !== 'object') {
    throw new TernError('TERN_E_PROBE_ARG', `${where}: options must hold downAfter, upAfter and degraded {lossPct, latencyMs, jitterMs}`);
  }
  const downAfter = checkNumber(where, 'downAfter', o.downAfter, { integer: true, min: 1, max: 100 });
  return {
    downAfter,
    upAfter: checkNumber(where, 'upAfter', o.upAfter, { integer: true, min: 1, max: 1000 }),
    degraded: {
      lossPct: checkNumber(where, 'degraded.lossPct', o.degraded.lossPct, { min: 0, max: 100 }),
      latencyMs: checkNumber(where, 'degraded.latencyMs', o.degraded.latencyMs, { above: 0 }),
      jitterMs: checkNumber(where, 'degraded.jitterMs', o.degraded.jitterMs, { above: 0 }),
    },
    clearRatio: checkNumber(where, 'clearRatio', o.clearRatio ?? 0.8, { above: 0, max: 1 }),
    minProbes: checkNumber(where, 'minProbes', o.minProbes ?? 5, { integer: true, min: 1 }),
    firstAnswerGrace: checkNumber(where, 'firstAnswerGrace', o.firstAnswerGrace ?? downAfter, { integer: true, min: 1, max: 100_000 }),
  };
}

/** The state machine of one path or one WAN probe target. */
export class HealthStateMachine {
  readonly subject: string;
  readonly target: string | undefined;
  private readonly o: CheckedOptions;
  private link: 'unknown' | 'up' | 'down' = 'unknown';
  private degradedFlag = false;
  private lostRun = 0;
  private answeredRun = 0;
  private unansweredRun = 0;
  private current: HealthState = 'unknown';

  constructor(subject: string, opts: StateOptions, target?: string) {
    this.subject = checkName('state: new', 'subject', subject);
    this.target = target === undefined ? undefined : checkName('state: new', 'target', target);
    this.o = checkOptions('state: new', opts);
  }

  get state(): HealthState { return this.current; }
  /** Lost probes in a row right now. */
  get consecutiveLost(): number { return this.lostRun; }
  /** Answered probes in a row right now. */
  get consecutiveAnswered(): number { return this.answeredRun; }

  /** One probe outcome (a late answer counts as answered). Returns the transition it caused, if any. */
  probe(answered: boolean): Transition | undefined {
    if (answered) {
      this.lostRun = 0;
      this.answeredRun++;
      if (this.link === 'unknown') {
        this.link = 'up';
        return this.settle('first-answer', 'first probe answered');
      }
      if (this.link === 'down' && this.answeredRun >= this.o.upAfter) {
        this.link = 'up';
        return this.settle('consecutive-answered', `${this.answeredRun} consecutive probes answered`);
      }
      return undefined;
    }
    this.answeredRun = 0;
    this.lostRun++;
    if (this.link !== 'down' && this.lostRun >= this.o.downAfter) {
      this.link = 'down';
      return this.settle('consecutive-lost', `${this.lostRun} consecutive probes lost`);
    }
    return undefined;
  }

  /**
   * A probe sent before the path's first answer went unanswered: no data,
   * not loss. It counts only while the path has never answered; after
   * firstAnswerGrace of them the path is down.
   */
  unanswered(): Transition | undefined {
    if (this.link !== 'unknown') return undefined;
    this.unansweredRun++;
    if (this.unansweredRun < this.o.firstAnswerGrace) return undefined;
    this.link = 'down';
    return this.settle('no-answer', `no answer to any of the first ${this.unansweredRun} probes`);
  }

  /** The latest window metrics. Returns the transition they caused, if any. */
  metrics(m: JudgedMetrics): Transition | undefined {
    if (m.probes < this.o.minProbes) return undefined;
    const t = this.o.degraded;
    if (!this.degradedFlag) {
      const over: string[] = [];
      if (m.lossPct !== null && m.lossPct > t.lossPct) over.push(`loss ${fmt(m.lossPct)}% > ${t.lossPct}%`);
      if (m.rttMs !== null && m.rttMs > t.latencyMs) over.push(`rtt ${fmt(m.rttMs)} ms > ${t.latencyMs} ms`);
      if (m.jitterMs !== null && m.jitterMs > t.jitterMs) over.push(`jitter ${fmt(m.jitterMs)} ms > ${t.jitterMs} ms`);
      if (!over.length) return undefined;
      this.degradedFlag = true;
      return this.settle('thresholds-exceeded', over.join(', '));
    }
    const c = this.o.clearRatio;
    const clear = (m.lossPct ?? 0) <= t.lossPct * c && (m.rttMs ?? 0) <= t.latencyMs * c && (m.jitterMs ?? 0) <= t.jitterMs * c;
    if (!clear) return undefined;
    this.degradedFlag = false;
    return this.settle('thresholds-cleared',
      `loss ${fmt(m.lossPct ?? 0)}%, rtt ${fmt(m.rttMs ?? 0)} ms, jitter ${fmt(m.jitterMs ?? 0)} ms all at or below ${c * 100}% of their thresholds`);
  }

  /** Recompute the visible state; a transition only when it changed. */
  private settle(cause: TransitionCause, reason: string): Transition | undefined {
    const next: HealthState = this.link === 'up' ? (this.degradedFlag ? 'degraded' : 'up') : this.link;
    if (next === this.current) return undefined;
    const t: Transition = { subject: this.subject, from: this.current, to: next, cause, reason };
    if (this.target !== undefined) t.target = this.target;
    if (cause === 'consecutive-answered' && next === 'degraded') t.reason += '; window metrics still over thresholds';
    this.current = next;
    return t;
  }
}

/**
 * A WAN judged by its probe targets. Each target has its own state machine
 * and its own transitions ('target 8.8.8.8 unreachable' is reported as that,
 * not as the link going down). The WAN takes its best target's state: up if
 * any target is up, else degraded if any is, down only when all are down,
 * unknown otherwise.
 */
export class WanHealth {
  readonly wan: string;
  private readonly machines = new Map<string, HealthStateMachine>();
  private current: HealthState = 'unknown';

  constructor(wan: string, targets: string[], opts: StateOptions) {
    this.wan = checkName('state: wan', 'wan', wan);
    if (!Array.isArray(targets) || targets.length === 0) {
      throw new TernError('TERN_E_PROBE_ARG', `state: wan ${wan}: targets is ${JSON.stringify(targets)}; want at least one target`);
    }
    for (const t of targets) {
      if (this.machines.has(t)) throw new TernError('TERN_E_PROBE_ARG', `state: wan ${wan}: target ${t} is listed twice; want each once`);
      this.machines.set(t, new HealthStateMachine(wan, opts, t));
    }
  }

  get state(): HealthState { return this.current; }

  /** Every target's state. */
  targets(): Array<{ target: string; state: HealthState }> {
    return [...this.machines].map(([target, m]) => ({ target, state: m.state }));
  }

  /** One probe outcome of one target: that target's transition and the WAN's, if any. */
  probe(target: string, answered: boolean): Transition[] {
    return this.after(this.machine(target).probe(answered));
  }

  /** One target's window metrics: that target's transition and the WAN's, if any. */
  metrics(target: string, m: JudgedMetrics): Transition[] {
    return this.after(this.machine(target).metrics(m));
  }

  private machine(target: string): HealthStateMachine {
    const m = this.machines.get(target);
    if (!m) throw new TernError('TERN_E_PROBE_ARG', `state: wan ${this.wan}: target ${target} is not one of ${[...this.machines.keys()].join(', ')}`);
    return m;
  }

  private after(t: Transition | undefined): Transition[] {
    if (!t) return [];
    const out = [t];
    const states = this.targets();
    const pick = (s: HealthState): string[] => states.filter((x) => x.state === s).map((x) => x.target);
    let next: HealthState;
    let reason: string;
    if (pick('up').length) {
      next = 'up';
      reason = `target${pick('up').length > 1 ? 's' : ''} ${pick('up').join(', ')} up`;
    } else if (pick('degraded').length) {
      next = 'degraded';
      reason = `no target fully up; degraded: ${pick('degraded').join(', ')}`;
    } else if (pick('down').length === states.length) {
      next = 'down';
      reason = `all targets down: ${pick('down').join(', ')}`;
    } else {
      next = 'unknown';
      reason = `no target answering yet; down: ${pick('down').join(', ') || 'none'}`;
    }
    if (next !== this.current) {
      out.push({ subject: this.wan, from: this.current, to: next, cause: 'targets', reason });
      this.current = next;
    }
    return out;
  }
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}
