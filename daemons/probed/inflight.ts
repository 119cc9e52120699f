// The bookkeeping of probes in flight that the STAMP session (session.ts)
// and the ICMP echo session (echo.ts) share: the adaptive loss timeout, the
// queue of probes in sequence order with their loss timers, the late window
// in which a reply still counts, and the release of final outcomes strictly
// in sequence order. What a lost probe means (STAMP's no data before first
// contact and its loss direction; ICMP's plain loss) is the session's, told
// through hooks.
import type { Clock, TimerHandle } from '../lib/clock/index.js';
import type { LossDirection } from './direction.js';
import { JitterEstimator } from './metrics.js';
import { checkNumber } from '../lib/history/validate.js';

export interface LostProbe {
  seq: number;
  sentAt: number;
  sentMono: number;
}

export interface FinalProbe {
  seq: number;
  sentAt: number;
  sentMono: number;
  answered: boolean;
  late: boolean;
  rttMs?: number;
  jitterMs?: number;
  /** For lost probes. */
  direction?: LossDirection;
}

/** A session's loss timeout and late window, as configured. */
export interface LossTimeoutOptions {
  /** Loss timeout bounds and the value used before the first reply (defaults 250, 2000, 1000 ms). */
  minLossTimeoutMs?: number | undefined;
  maxLossTimeoutMs?: number | undefined;
  initialLossTimeoutMs?: number | undefined;
  /** Replies up to this long after sending count back as answered (default 5000 ms). */
  lateWindowMs?: number | undefined;
}

/** What a session counts about its probes and replies. */
export interface ProbeCounters {
  sent: number;
  /** Sends that threw; their probes go unanswered. */
  sendErrors: number;
  answered: number;
  /** Answers that came after the probe's loss timeout, within its late window. */
  late: number;
  timeouts: number;
  duplicates: number;
  /** Replies for probes we no longer wait for (past the late window) or never sent. */
  stale: number;
  /** Replies whose echoed send time is not the one we sent with that sequence number. */
  foreign: number;
}

/**
 * The loss timeout, adapted like TCP's RTO (RFC 6298 §2: SRTT + 4 × RTTVAR,
 * alpha 1/8, beta 1/4) and clamped to [minMs, maxMs]; initialMs until the
 * first RTT sample.
 */
export class RtoEstimator {
  private srtt: number | undefined;
  private rttvar = 0;

  constructor(readonly minMs: number, readonly maxMs: number, readonly initialMs: number) {}

  add(rttMs: number): void {
    if (this.srtt === undefined) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttMs);
      this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    }
  }

  timeoutMs(): number {
    const t = this.srtt === undefined ? this.initialMs : this.srtt + 4 * this.rttvar;
    return Math.min(this.maxMs, Math.max(this.minMs, t));
  }
}

/** One probe in flight; sessions extend it with what their replies are matched by. */
export interface InflightProbe {
  /** Our probe number. */
  n: number;
  /** The sequence number on the wire (n modulo the wire's sequence space). */
  wire: number;
  sentMono: number;
  sentAt: number;
  state: 'pending' | 'answered' | 'lost';
  late: boolean;
  rttMs: number;
  jitterMs: number;
  timer: TimerHandle | undefined;
}

/**
 * What to do with the lost probe at the head of the queue once its late
 * window is over: wait longer, drop it without a final (no data), or make
 * the first k probes final with these k directions.
 */
export type LostRelease = 'wait' | 'drop' | readonly LossDirection[];

/** What a session tells the ledger; where prefixes option errors ('session: new'). */
export interface InflightOptions<P extends InflightProbe> {
  where: string;
  clock: Clock;
  timeouts: LossTimeoutOptions;
  /** Called when a probe's timer fires, before it is declared lost: a reply read now still counts as on time. */
  beforeLoss?: (() => void) | undefined;
  /** p has just been declared lost (its state is 'lost'). */
  lost: (p: P) => void;
  /** The head of the queue is lost and past its late window (see LostRelease). */
  releaseLost: (queue: readonly P[], nowMono: number) => LostRelease;
  /** p's outcome will not change any more; called in sequence order. */
  final: (p: P, f: FinalProbe) => void;
}

export class InflightLedger<P extends InflightProbe> {
  readonly rto: RtoEstimator;
  readonly lateWindowMs: number;
  private readonly clock: Clock;
  private readonly hooks: InflightOptions<P>;
  private readonly jitter = new JitterEstimator();
  private readonly queue: P[] = [];
  /** Answered probes already final, matchable until their late window ends so a duplicate is told from a stale reply. */
  private readonly retired: P[] = [];
  private readonly byWire = new Map<number, P>();
  private lastDeadline = -Infinity;

  constructor(opts: InflightOptions<P>) {
    const w = opts.where;
    const o = opts.timeouts;
    const min = checkNumber(w, 'minLossTimeoutMs', o.minLossTimeoutMs ?? 250, { above: 0 });
    const max = checkNumber(w, 'maxLossTimeoutMs', o.maxLossTimeoutMs ?? 2000, { min });
    const initial = checkNumber(w, 'initialLossTimeoutMs', o.initialLossTimeoutMs ?? Math.min(1000, max), { min, max });
    this.lateWindowMs = checkNumber(w, 'lateWindowMs', o.lateWindowMs ?? Math.max(5000, max), { min: max });
    this.rto = new RtoEstimator(min, max, initial);
    this.clock = opts.clock;
    this.hooks = opts;
  }

  /** Probes sent and not yet answered or timed out. */
  get pending(): number {
    let n = 0;
    for (const p of this.queue) if (p.state === 'pending') n++;
    return n;
  }

  /**
   * Put p (just sent, state 'pending') in flight and start its loss timer.
   * Deadlines never go backwards, so probes time out in sequence order even
   * when the adaptive timeout shrinks.
   */
  add(p: P): void {
    const deadline = Math.max(p.sentMono + this.rto.timeoutMs(), this.lastDeadline);
    this.lastDeadline = deadline;
    this.queue.push(p);
    this.byWire.set(p.wire, p);
    p.timer = this.clock.setTimeout(() => this.expire(p), deadline - p.sentMono);
  }

  /** The probe in flight (or retired) with this wire sequence number. */
  get(wire: number): P | undefined {
    return this.byWire.get(wire);
  }

  /** Record p's reply (p not answered yet): RTT, jitter, loss timeout. Returns whether it came late. */
  answer(p: P, rttMs: number): boolean {
    const late = p.state === 'lost';
    this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    p.state = 'answered';
    p.late = late;
    p.rttMs = rttMs;
    p.jitterMs = this.jitter.add(rttMs);
    this.rto.add(rttMs);
    return late;
  }

  /** Emit final() for every probe at the head of the queue whose outcome can no longer change; force (on stop) treats every window as over. */
  release(force = false): void {
    const now = force ? Infinity : this.clock.monotonic();
    while (this.retired.length && now >= this.retired[0]!.sentMono + this.lateWindowMs) this.forget(this.retired.shift()!);
    while (this.queue.length) {
      const head = this.queue[0]!;
      if (head.state === 'answered') {
        this.queue.shift();
        this.finish(head, undefined);
        continue;
      }
      if (head.state === 'pending' || now < head.sentMono + this.lateWindowMs) return;
      const r = this.hooks.releaseLost(this.queue, now);
      if (r === 'wait') return;
      if (r === 'drop') {
        this.queue.shift();
        this.forget(head);
        continue;
      }
      const done = this.queue.splice(0, r.length);
      done.forEach((p, i) => this.finish(p, r[i]));
    }
  }

  /** Drop the probes still in flight (never reported), make the decided ones final now, and forget them all. */
  stop(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const p = this.queue[i]!;
      this.clock.clearTimeout(p.timer);
      p.timer = undefined;
      if (p.state === 'pending') {
        this.forget(p);
        this.queue.splice(i, 1);
      }
    }
    this.release(true);
    this.retired.length = 0;
    this.byWire.clear();
  }

  private expire(p: P): void {
    p.timer = undefined;
    if (p.state !== 'pending') return;
    this.hooks.beforeLoss?.();
    if (p.state !== 'pending') return;
    p.state = 'lost';
    this.hooks.lost(p);
    this.release();
  }

  private finish(p: P, direction: LossDirection | undefined): void {
    const answered = p.state === 'answered';
    if (answered) this.retired.push(p);
    else this.forget(p);
    this.hooks.final(p, answered
      ? { seq: p.n, sentAt: p.sentAt, sentMono: p.sentMono, answered, late: p.late, rttMs: p.rttMs, jitterMs: p.jitterMs }
      : { seq: p.n, sentAt: p.sentAt, sentMono: p.sentMono, answered, late: false, direction: direction ?? 'unknown' });
  }

  private forget(p: P): void {
    this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    if (this.byWire.get(p.wire) === p) this.byWire.delete(p.wire);
  }
}
