// The STAMP Session-Sender of one path: sends probe n with sequence number n
// at a steady rate, matches replies by sequence number and tells the rest of
// probed what happened to each probe, three times over:
//
//   answered(p)  a reply came: RTT, jitter, the reflector's counter; late is
//                true when the probe had already been declared lost
//   lost(p)      its loss timeout passed without a reply (fast: this is what
//                the state machine counts)
//   final(p)     its outcome will not change any more, with the direction of
//                a loss (direction.ts); emitted strictly in sequence order,
//                for history
//
// Timing. RTT = (T4 − T1) − (T3 − T2): T1 and T4 are read from the monotonic
// clock here, T2 and T3 are the reflector's receive and send timestamps, whose
// difference (its processing time) needs no clock synchronisation.
//
// The loss timeout adapts like TCP's RTO (RFC 6298: SRTT + 4 × RTTVAR),
// clamped to [minLossTimeoutMs, maxLossTimeoutMs]: a few hundred ms on
// ordinary paths so a dead path is seen quickly, longer on satellite paths so
// their probes are not called lost while still on the way. A reply arriving
// after the timeout but within lateWindowMs of sending counts back as
// answered (as dpinger counts late replies); after that it is stale.
//
// A lost probe becomes final once its late window is over and the gap it
// sits in is closed by a later answer (then its direction is known), or after
// attributionHoldMs with no answer (direction unknown; a blackhole longer
// than the hold keeps its early probes unknown).
//
// Before the path has ever answered, an unanswered probe is not loss: the
// tunnel may not have its first handshake yet, or the far end's reflector
// may not be bound yet, and a loss report must not show an ISP loss that
// was never measured. A probe sent before the first probe that was answered
// (the session's first contact) and never answered itself is reported as
// unanswered(), never as lost(), and gets no final(): no data. The state
// machine counts them to call a path that never answers down.
//
// The queue, loss timeout and late window are inflight.ts's, shared with the
// ICMP echo session; what a lost probe means is decided here.
import { systemClock, type Clock } from '../lib/clock/index.js';
import { TernError } from '../lib/errors.js';
import { VIRTUAL_ANCHOR, gapLabel, splitGap, type GapAnchor } from './direction.js';
import {
  InflightLedger, type FinalProbe, type InflightProbe, type LossTimeoutOptions, type LostProbe, type LostRelease, type ProbeCounters,
} from './inflight.js';
import {
  STAMP_PACKET_BYTES, TERN_ERROR_ESTIMATE, decodeReflectorPacket, encodeSenderPacket, msToNtp, timestampDiffMs,
  timestampsEqual, type ErrorEstimate, type Timestamp,
} from './stamp.js';
import { Ticker } from './ticker.js';
import { checkNumber } from '../lib/history/validate.js';

export interface AnsweredProbe {
  /** Our probe number n (the wire carries n mod 2^32). */
  seq: number;
  /** Wall-clock ms when sent. */
  sentAt: number;
  /** Monotonic ms when sent. */
  sentMono: number;
  rttMs: number;
  /** RFC 3550 J after this reply. */
  jitterMs: number;
  late: boolean;
  reflectorSeq: number;
  /** TTL the reflector saw on our probe; 0 when it could not tell. */
  ttl: number;
}

export type { FinalProbe, LostProbe } from './inflight.js';

export interface SessionListener {
  answered?(p: AnsweredProbe): void;
  lost?(p: LostProbe): void;
  /** A probe sent before the first contact timed out: no data, not loss. */
  unanswered?(p: LostProbe): void;
  final?(p: FinalProbe): void;
}

export interface SessionOptions extends LossTimeoutOptions {
  /** Probes per second (config probes.pathRatePerSec). */
  ratePerSec: number;
  /** Transmit one probe. A throw is counted as a send error; the probe then simply goes unanswered. */
  send: (bytes: Uint8Array) => void;
  listener?: SessionListener;
  clock?: Clock;
  /** Probe size; the reflector answers with the same size. Default 44. */
  packetBytes?: number;
  /** How long a lost probe waits for an answer that tells its direction (default 30000 ms). */
  attributionHoldMs?: number;
  errorEstimate?: ErrorEstimate;
}

/** What receive() did with a datagram. */
export type ReceiveOutcome = 'answered' | 'late' | 'duplicate' | 'malformed' | 'stale' | 'foreign';

export interface SessionCounters extends ProbeCounters {
  malformed: number;
  /** Replies whose reflector processing time was negative or longer than the round trip (clamped). */
  badProcessingTime: number;
  /** Probes sent before the first contact that timed out: no data, not loss. */
  beforeFirstAnswer: number;
}

/** wire is n mod 2^32. */
interface ProbeRecord extends InflightProbe {
  t1: Timestamp;
  /** Timed out before the first contact: no data, never a final. */
  beforeContact: boolean;
  /** The reflector's counter in the reply. */
  r: number;
}

const TWO32 = 0x1_0000_0000;

export class Session {
  private readonly clock: Clock;
  private readonly send: (bytes: Uint8Array) => void;
  private readonly listener: SessionListener;
  private readonly intervalMs: number;
  private readonly packetBytes: number;
  private readonly inflight: InflightLedger<ProbeRecord>;
  private readonly holdMs: number;
  private readonly errorEstimate: ErrorEstimate;
  private anchor: GapAnchor = { ...VIRTUAL_ANCHOR };
  private nextN = 0;
  /** The lowest probe number answered so far: probes below it that go unanswered are no data. */
  private contactN: number | undefined;
  private readonly ticker: Ticker;
  private readonly stats: SessionCounters = {
    sent: 0, sendErrors: 0, answered: 0, late: 0, timeouts: 0, duplicates: 0, malformed: 0, stale: 0, foreign: 0, badProcessingTime: 0,
    beforeFirstAnswer: 0,
  };

  constructor(opts: SessionOptions) {
    const w = 'session: new';
    const rate = checkNumber(w, 'ratePerSec', opts.ratePerSec, { above: 0, max: 1000 });
    this.intervalMs = 1000 / rate;
    if (typeof opts.send !== 'function') throw new TernError('TERN_E_PROBE_ARG', `${w}: send is ${typeof opts.send}; want a function`);
    this.send = opts.send;
    this.listener = opts.listener ?? {};
    this.clock = opts.clock ?? systemClock;
    this.ticker = new Ticker(this.clock, this.intervalMs, () => this.probe());
    this.packetBytes = checkNumber(w, 'packetBytes', opts.packetBytes ?? STAMP_PACKET_BYTES, { integer: true, min: STAMP_PACKET_BYTES, max: 9216 });
    this.inflight = new InflightLedger<ProbeRecord>({
      where: w,
      clock: this.clock,
      timeouts: opts,
      lost: (p) => this.lost(p),
      releaseLost: (queue, now) => this.releaseLost(queue, now),
      final: (p, f) => {
        this.listener.final?.(f);
        if (p.state === 'answered') this.anchor = { n: p.n, r: p.r };
      },
    });
    const late = this.inflight.lateWindowMs;
    this.holdMs = checkNumber(w, 'attributionHoldMs', opts.attributionHoldMs ?? Math.max(30_000, late), { min: late });
    this.errorEstimate = opts.errorEstimate ?? TERN_ERROR_ESTIMATE;
  }

  /** Start probing: one probe now, then one every 1/rate s. */
  start(): void {
    this.ticker.start();
  }

  /**
   * Stop probing. Probes still in flight are dropped (never reported); the
   * decided ones are made final now, lost ones with whatever direction the
   * answers so far tell.
   */
  stop(): void {
    this.ticker.stop();
    this.inflight.stop();
  }

  get running(): boolean { return this.ticker.running; }

  counters(): SessionCounters { return { ...this.stats }; }

  /** The loss timeout the next probe gets, ms. */
  lossTimeoutMs(): number { return this.inflight.rto.timeoutMs(); }

  /** Send one probe now (the ticker calls this; tests may too). */
  probe(): void {
    const now = this.clock.monotonic();
    const sentAt = this.clock.now();
    const n = this.nextN++;
    const wire = n % TWO32;
    const t1 = msToNtp(sentAt);
    const bytes = encodeSenderPacket({ seq: wire, timestamp: t1, errorEstimate: this.errorEstimate }, this.packetBytes);
    const rec: ProbeRecord = {
      n, wire, sentMono: now, sentAt, t1, state: 'pending', beforeContact: false, late: false, rttMs: 0, jitterMs: 0, r: 0, timer: undefined,
    };
    this.inflight.add(rec);
    this.stats.sent++;
    try {
      this.send(bytes);
    } catch {
      this.stats.sendErrors++;
    }
    this.inflight.release();
  }

  /** Take one datagram from the socket; rxMono is when it arrived (monotonic ms). */
  receive(bytes: Uint8Array, rxMono: number = this.clock.monotonic()): ReceiveOutcome {
    const d = decodeReflectorPacket(bytes);
    if (!d.ok) { this.stats.malformed++; return 'malformed'; }
    const pkt = d.packet;
    const rec = this.inflight.get(pkt.senderSeq);
    if (!rec || rxMono - rec.sentMono > this.inflight.lateWindowMs) { this.stats.stale++; return 'stale'; }
    if (!timestampsEqual(pkt.senderTimestamp, rec.t1)) { this.stats.foreign++; return 'foreign'; }
    if (rec.state === 'answered') { this.stats.duplicates++; return 'duplicate'; }
    const raw = rxMono - rec.sentMono;
    let processing = timestampDiffMs(pkt.timestamp, pkt.receiveTimestamp, pkt.errorEstimate.ptp);
    if (!(processing >= 0 && processing <= raw)) {
      // A reflector clock step between T2 and T3, or nonsense: trust our own clock.
      this.stats.badProcessingTime++;
      processing = Math.min(Math.max(processing, 0), Math.max(raw, 0));
    }
    const rtt = Math.max(0, raw - processing);
    const late = this.inflight.answer(rec, rtt);
    rec.r = pkt.seq;
    if (this.contactN === undefined || rec.n < this.contactN) this.contactN = rec.n;
    rec.beforeContact = false;
    this.stats.answered++;
    if (late) this.stats.late++;
    this.listener.answered?.({
      seq: rec.n, sentAt: rec.sentAt, sentMono: rec.sentMono, rttMs: rtt, jitterMs: rec.jitterMs, late, reflectorSeq: pkt.seq, ttl: pkt.senderTtl,
    });
    this.inflight.release();
    return late ? 'late' : 'answered';
  }

  /** p timed out: loss, or no data when it was sent before the first contact. */
  private lost(p: ProbeRecord): void {
    // Timeouts come in probe order, so every probe that times out before
    // the first contact comes before every probe lost after it.
    if (this.contactN === undefined || p.n < this.contactN) {
      p.beforeContact = true;
      this.stats.beforeFirstAnswer++;
      this.listener.unanswered?.({ seq: p.n, sentAt: p.sentAt, sentMono: p.sentMono });
    } else {
      this.stats.timeouts++;
      this.listener.lost?.({ seq: p.n, sentAt: p.sentAt, sentMono: p.sentMono });
    }
  }

  /**
   * The lost probe at the head of the queue is past its late window: no data
   * before the first contact; otherwise final with a direction once the gap
   * it sits in is closed by an answer, or with none after the hold.
   */
  private releaseLost(queue: readonly ProbeRecord[], now: number): LostRelease {
    const head = queue[0]!;
    if (head.beforeContact) return 'drop';
    const j = queue.findIndex((p) => p.state === 'answered');
    if (j > 0) {
      // The gap between the anchor and queue[j] is closed once its last
      // probe is past its late window: nothing in it can be answered now.
      const last = queue[j - 1]!;
      if (last.state === 'pending' || now < last.sentMono + this.inflight.lateWindowMs) return 'wait';
      const b = queue[j]!;
      const split = splitGap(this.anchor, { n: b.n, r: b.r });
      return queue.slice(0, j).map((p) => gapLabel(this.anchor, p.n, split));
    }
    if (now < head.sentMono + this.holdMs) return 'wait';
    return ['unknown'];
  }
}
