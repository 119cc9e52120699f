// The ICMP echo session of one WAN probe target: what session.ts is for
// STAMP, without a reflector counter (so losses have no direction). It sends
// echo request n with the 16-bit sequence number n mod 2^16 at a steady
// rate, matches replies by sequence number and by the send time they echo,
// and reports each probe three times over, like session.ts:
//
//   answered(p)  a reply came (late: the probe had been declared lost)
//   lost(p)      its loss timeout passed without a reply
//   final(p)     its outcome will not change any more (answered, or lost and
//                past the late window), strictly in sequence order
//
// RTT comes from the native module's clock alone: the send time taken just
// before sendto() and the kernel's receive timestamp of the reply, so how
// late the daemon reads the socket never shows in it. Timers run on the
// injected Clock. Before a probe is declared lost, beforeTimeout() lets the
// daemon read the socket, so a reply already waiting there is not called late.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { TernError } from '../lib/errors.js';
import { JitterEstimator } from './metrics.js';
import type { AnsweredProbe, FinalProbe, LostProbe } from './session.js';
import { Ticker } from './ticker.js';
import { checkNumber } from '../lib/history/validate.js';

/** An echo reply as the transport read it (native IcmpReply). */
export interface EchoReply {
  seq: number;
  /** The send time the reply echoes, ms on the transport's clock. */
  sentMs: number;
  /** When the kernel received it, ms on the transport's clock. */
  rxMs: number;
}

export interface EchoListener {
  answered?(p: Omit<AnsweredProbe, 'reflectorSeq' | 'ttl'>): void;
  lost?(p: LostProbe): void;
  final?(p: FinalProbe): void;
}

export interface EchoSessionOptions {
  ratePerSec: number;
  /** Send echo request seq (0-65535); returns the send time on the transport's clock. A throw counts as a send error. */
  send: (seq: number) => number;
  listener?: EchoListener;
  clock?: Clock;
  /** Called before a probe is declared lost: read the socket now. */
  beforeTimeout?: () => void;
  /** As in session.ts: loss timeout bounds and initial value (250, 2000, 1000 ms), late window (5000 ms). */
  minLossTimeoutMs?: number;
  maxLossTimeoutMs?: number;
  initialLossTimeoutMs?: number;
  lateWindowMs?: number;
}

export type EchoOutcome = 'answered' | 'late' | 'duplicate' | 'stale' | 'foreign';

export interface EchoCounters {
  sent: number;
  sendErrors: number;
  answered: number;
  late: number;
  timeouts: number;
  duplicates: number;
  stale: number;
  foreign: number;
}

interface EchoRecord {
  n: number;
  seq: number;
  sentMono: number;
  sentAt: number;
  /** Send time on the transport's clock; undefined when the send failed. */
  txMs: number | undefined;
  state: 'pending' | 'answered' | 'lost';
  late: boolean;
  rttMs: number;
  jitterMs: number;
  timer: TimerHandle | undefined;
}

const SEQ_SPACE = 0x1_0000;

export class EchoSession {
  private readonly clock: Clock;
  private readonly sendFn: (seq: number) => number;
  private readonly listener: EchoListener;
  private readonly beforeTimeout: (() => void) | undefined;
  private readonly intervalMs: number;
  private readonly minTimeout: number;
  private readonly maxTimeout: number;
  private readonly initialTimeout: number;
  private readonly lateWindowMs: number;
  private readonly jitter = new JitterEstimator();
  private readonly queue: EchoRecord[] = [];
  /** Answered probes already final, matchable until their late window ends so a duplicate is told from a stale reply. */
  private readonly retired: EchoRecord[] = [];
  private readonly bySeq = new Map<number, EchoRecord>();
  private nextN = 0;
  private lastDeadline = -Infinity;
  private srtt: number | undefined;
  private rttvar = 0;
  private readonly ticker: Ticker;
  private readonly stats: EchoCounters = { sent: 0, sendErrors: 0, answered: 0, late: 0, timeouts: 0, duplicates: 0, stale: 0, foreign: 0 };

  constructor(opts: EchoSessionOptions) {
    const w = 'echo: new';
    this.intervalMs = 1000 / checkNumber(w, 'ratePerSec', opts.ratePerSec, { above: 0, max: 1000 });
    if (typeof opts.send !== 'function') throw new TernError('TERN_E_PROBE_ARG', `${w}: send is ${typeof opts.send}; want a function`);
    this.sendFn = opts.send;
    this.listener = opts.listener ?? {};
    this.clock = opts.clock ?? systemClock;
    this.ticker = new Ticker(this.clock, this.intervalMs, () => this.probe());
    this.beforeTimeout = opts.beforeTimeout;
    this.minTimeout = checkNumber(w, 'minLossTimeoutMs', opts.minLossTimeoutMs ?? 250, { above: 0 });
    this.maxTimeout = checkNumber(w, 'maxLossTimeoutMs', opts.maxLossTimeoutMs ?? 2000, { min: this.minTimeout });
    this.initialTimeout = checkNumber(w, 'initialLossTimeoutMs', opts.initialLossTimeoutMs ?? Math.min(1000, this.maxTimeout),
      { min: this.minTimeout, max: this.maxTimeout });
    this.lateWindowMs = checkNumber(w, 'lateWindowMs', opts.lateWindowMs ?? Math.max(5000, this.maxTimeout), { min: this.maxTimeout });
    // 2^16 sequence numbers must outlast the late window, or a late reply
    // could be matched to a newer probe with the same number.
    if ((SEQ_SPACE * this.intervalMs) / 2 <= this.lateWindowMs) {
      throw new TernError('TERN_E_PROBE_ARG', `${w}: ratePerSec ${opts.ratePerSec} wraps 16-bit sequence numbers within the late window; want a lower rate`);
    }
  }

  start(): void {
    this.ticker.start();
  }

  /** Stop probing; probes in flight are dropped, decided ones made final. */
  stop(): void {
    this.ticker.stop();
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
    this.bySeq.clear();
  }

  get running(): boolean { return this.ticker.running; }

  /** Probes sent and not yet answered or timed out. */
  get pending(): number {
    let n = 0;
    for (const p of this.queue) if (p.state === 'pending') n++;
    return n;
  }

  counters(): EchoCounters { return { ...this.stats }; }

  lossTimeoutMs(): number {
    const t = this.srtt === undefined ? this.initialTimeout : this.srtt + 4 * this.rttvar;
    return Math.min(this.maxTimeout, Math.max(this.minTimeout, t));
  }

  /** Send one probe now. */
  probe(): void {
    const now = this.clock.monotonic();
    const n = this.nextN++;
    const seq = n % SEQ_SPACE;
    const deadline = Math.max(now + this.lossTimeoutMs(), this.lastDeadline);
    this.lastDeadline = deadline;
    const rec: EchoRecord = {
      n, seq, sentMono: now, sentAt: this.clock.now(), txMs: undefined, state: 'pending', late: false, rttMs: 0, jitterMs: 0, timer: undefined,
    };
    const old = this.bySeq.get(seq);
    if (old) this.bySeq.delete(seq);
    this.queue.push(rec);
    this.bySeq.set(seq, rec);
    this.stats.sent++;
    try {
      rec.txMs = this.sendFn(seq);
    } catch {
      this.stats.sendErrors++;
    }
    rec.timer = this.clock.setTimeout(() => this.timeout(rec), deadline - now);
    this.release(false);
  }

  /** One reply read from the socket. */
  receive(reply: EchoReply): EchoOutcome {
    const rec = this.bySeq.get(reply.seq);
    if (!rec || rec.txMs === undefined) { this.stats.stale++; return 'stale'; }
    // The reply echoes the send time we put in its request: anything else
    // is an old reply with a reused number, or not ours.
    if (reply.sentMs !== rec.txMs) { this.stats.foreign++; return 'foreign'; }
    const rtt = reply.rxMs - rec.txMs;
    if (!(rtt >= 0) || rtt > this.lateWindowMs) { this.stats.stale++; return 'stale'; }
    if (rec.state === 'answered') { this.stats.duplicates++; return 'duplicate'; }
    const late = rec.state === 'lost';
    this.clock.clearTimeout(rec.timer);
    rec.timer = undefined;
    rec.state = 'answered';
    rec.late = late;
    rec.rttMs = rtt;
    rec.jitterMs = this.jitter.add(rtt);
    this.updateRto(rtt);
    this.stats.answered++;
    if (late) this.stats.late++;
    this.listener.answered?.({ seq: rec.n, sentAt: rec.sentAt, sentMono: rec.sentMono, rttMs: rtt, jitterMs: rec.jitterMs, late });
    this.release(false);
    return late ? 'late' : 'answered';
  }

  private timeout(rec: EchoRecord): void {
    rec.timer = undefined;
    if (rec.state !== 'pending') return;
    this.beforeTimeout?.();
    if (rec.state !== 'pending') return;
    rec.state = 'lost';
    this.stats.timeouts++;
    this.listener.lost?.({ seq: rec.n, sentAt: rec.sentAt, sentMono: rec.sentMono });
    this.release(false);
  }

  private updateRto(r: number): void {
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
  }

  /** final() for the head of the queue while its outcome can no longer change. */
  private release(force: boolean): void {
    const now = force ? Infinity : this.clock.monotonic();
    while (this.retired.length && now >= this.retired[0]!.sentMono + this.lateWindowMs) this.forget(this.retired.shift()!);
    while (this.queue.length) {
      const head = this.queue[0]!;
      if (head.state === 'pending') return;
      if (head.state === 'lost' && now < head.sentMono + this.lateWindowMs) return;
      this.queue.shift();
      if (head.state === 'lost') this.forget(head);
      else this.retired.push(head);
      this.listener.final?.(head.state === 'answered'
        ? { seq: head.n, sentAt: head.sentAt, sentMono: head.sentMono, answered: true, late: head.late, rttMs: head.rttMs, jitterMs: head.jitterMs }
        : { seq: head.n, sentAt: head.sentAt, sentMono: head.sentMono, answered: false, late: false, direction: 'unknown' });
    }
  }

  private forget(p: EchoRecord): void {
    this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    if (this.bySeq.get(p.seq) === p) this.bySeq.delete(p.seq);
  }
}
