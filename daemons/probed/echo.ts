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
// The queue, loss timeout and late window are inflight.ts's, as for STAMP; a
// lost probe here is final as soon as its late window is over (no direction).
import { systemClock, type Clock } from '../lib/clock/index.js';
import { TernError } from '../lib/errors.js';
import {
  InflightLedger, type FinalProbe, type InflightProbe, type LossTimeoutOptions, type LostProbe, type ProbeCounters,
} from './inflight.js';
import type { AnsweredProbe } from './session.js';
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

/** Loss timeout and late window as in session.ts. */
export interface EchoSessionOptions extends LossTimeoutOptions {
  ratePerSec: number;
  /** Send echo request seq (0-65535); returns the send time on the transport's clock. A throw counts as a send error. */
  send: (seq: number) => number;
  listener?: EchoListener;
  clock?: Clock;
  /** Called before a probe is declared lost: read the socket now. */
  beforeTimeout?: () => void;
}

export type EchoOutcome = 'answered' | 'late' | 'duplicate' | 'stale' | 'foreign';

export type EchoCounters = ProbeCounters;

/** wire is the 16-bit sequence number. */
interface EchoRecord extends InflightProbe {
  /** Send time on the transport's clock; undefined when the send failed. */
  txMs: number | undefined;
}

const SEQ_SPACE = 0x1_0000;

export class EchoSession {
  private readonly clock: Clock;
  private readonly sendFn: (seq: number) => number;
  private readonly listener: EchoListener;
  private readonly intervalMs: number;
  private readonly inflight: InflightLedger<EchoRecord>;
  private nextN = 0;
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
    this.inflight = new InflightLedger<EchoRecord>({
      where: w,
      clock: this.clock,
      timeouts: opts,
      beforeLoss: opts.beforeTimeout,
      lost: (p) => {
        this.stats.timeouts++;
        this.listener.lost?.({ seq: p.n, sentAt: p.sentAt, sentMono: p.sentMono });
      },
      releaseLost: () => ['unknown'],
      final: (_p, f) => this.listener.final?.(f),
    });
    // 2^16 sequence numbers must outlast the late window, or a late reply
    // could be matched to a newer probe with the same number.
    if ((SEQ_SPACE * this.intervalMs) / 2 <= this.inflight.lateWindowMs) {
      throw new TernError('TERN_E_PROBE_ARG', `${w}: ratePerSec ${opts.ratePerSec} wraps 16-bit sequence numbers within the late window; want a lower rate`);
    }
  }

  start(): void {
    this.ticker.start();
  }

  /** Stop probing; probes in flight are dropped, decided ones made final. */
  stop(): void {
    this.ticker.stop();
    this.inflight.stop();
  }

  get running(): boolean { return this.ticker.running; }

  /** Probes sent and not yet answered or timed out. */
  get pending(): number { return this.inflight.pending; }

  counters(): EchoCounters { return { ...this.stats }; }

  lossTimeoutMs(): number { return this.inflight.rto.timeoutMs(); }

  /** Send one probe now. */
  probe(): void {
    const now = this.clock.monotonic();
    const n = this.nextN++;
    const seq = n % SEQ_SPACE;
    const rec: EchoRecord = {
      n, wire: seq, sentMono: now, sentAt: this.clock.now(), txMs: undefined, state: 'pending', late: false, rttMs: 0, jitterMs: 0, timer: undefined,
    };
    this.inflight.add(rec);
    this.stats.sent++;
    try {
      rec.txMs = this.sendFn(seq);
    } catch {
      this.stats.sendErrors++;
    }
    this.inflight.release();
  }

  /** One reply read from the socket. */
  receive(reply: EchoReply): EchoOutcome {
    const rec = this.inflight.get(reply.seq);
    if (!rec || rec.txMs === undefined) { this.stats.stale++; return 'stale'; }
    // The reply echoes the send time we put in its request: anything else
    // is an old reply with a reused number, or not ours.
    if (reply.sentMs !== rec.txMs) { this.stats.foreign++; return 'foreign'; }
    const rtt = reply.rxMs - rec.txMs;
    if (!(rtt >= 0) || rtt > this.inflight.lateWindowMs) { this.stats.stale++; return 'stale'; }
    if (rec.state === 'answered') { this.stats.duplicates++; return 'duplicate'; }
    const late = this.inflight.answer(rec, rtt);
    this.stats.answered++;
    if (late) this.stats.late++;
    this.listener.answered?.({ seq: rec.n, sentAt: rec.sentAt, sentMono: rec.sentMono, rttMs: rtt, jitterMs: rec.jitterMs, late });
    this.inflight.release();
    return late ? 'late' : 'answered';
  }
}
