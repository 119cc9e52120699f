// Path metrics over a sliding window: loss (total and per direction), RTT,
// jitter (RFC 3550) and a MOS estimate, plus the formulas on their own. The
// loss formula is lib/history's, so history and ternctl compute the same numbers.
//
// The window is time-based: it holds the probes *sent* in the last windowSec
// whose fate is decided (answered, or past their loss timeout). Probes still
// in flight are left out, or every probe round would look like fresh loss.
// Time-based rather than last-N because paths and WANs probe at different
// rates and the config speaks in seconds. A probe lost at its timeout and
// answered late (within the session's late window) turns back into an
// answered one, as dpinger counts late replies.
import { VIRTUAL_ANCHOR, gapLabel, splitGap, type GapAnchor } from './direction.js';
import { lossRatios } from '../lib/history/loss.js';
import { checkNumber } from '../lib/history/validate.js';

/**
 * RFC 3550 §6.4.1 interarrival jitter: J += (|D| − J) / 16, where D is the
 * difference between the transit times of two consecutive replies in order of
 * arrival. A probe's transit time here is its RTT, which needs no clock
 * synchronisation between the sites.
 */
export class JitterEstimator {
  private prev: number | undefined;
  private j = 0;

  /** Feed one transit time (ms); returns J after it. */
  add(transitMs: number): number {
    if (this.prev !== undefined) this.j += (Math.abs(transitMs - this.prev) - this.j) / 16;
    this.prev = transitMs;
    return this.j;
  }

  get value(): number { return this.j; }
}

export interface MosInput {
  /** Average round-trip time, ms. */
  rttMs: number;
  /** Jitter, ms. */
  jitterMs: number;
  /** Total loss, percent (0-100). */
  lossPct: number;
}

/**
 * MOS from the common simplified E-model (ITU-T G.107 reduced to delay,
 * jitter and loss, as used by most network monitors):
 *
 *   latency = RTT / 2                       one-way, see below
 *   EffLat  = latency + 2 × jitter + 10 ms  (10 ms for codec delay)
 *   R       = 93.2 − EffLat / 40            if EffLat < 160 ms
 *           = 93.2 − (EffLat − 120) / 10    otherwise
 *   R      −= 2.5 × loss%,  clamped to [0, 100]
 *   MOS     = 1 + 0.035 R + 0.000007 R (R − 60) (100 − R)
 *
 * Latency is one-way (RTT/2, assuming a symmetric path) because the E-model
 * rates mouth-to-ear delay: its 160 ms knee sits on G.114's ~150 ms one-way
 * limit for good conversation. Feeding RTT, as some monitors do, counts the
 * delay twice and would call a 200 ms transatlantic path (100 ms each way,
 * fine for voice) poor. Jitter is the RTT jitter, not halved: the jitter
 * buffer has to absorb the worse direction, and RTT jitter bounds it.
 */
export function mos(x: MosInput): number {
  const latency = x.rttMs / 2;
  const eff = latency + 2 * x.jitterMs + 10;
  let r = eff < 160 ? 93.2 - eff / 40 : 93.2 - (eff - 120) / 10;
  r -= 2.5 * x.lossPct;
  r = Math.min(100, Math.max(0, r));
  return 1 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r);
}

export interface WindowMetrics {
  windowSec: number;
  /** Probes decided in the window (answered + lost). */
  probes: number;
  answered: number;
  lost: number;
  lostFwd: number;
  lostRev: number;
  lostUnknown: number;
  lossPct: number | null;
  lossFwdPct: number | null;
  lossRevPct: number | null;
  rttMinMs: number | null;
  /** Average RTT of the window's answered probes. */
  rttMs: number | null;
  rttMaxMs: number | null;
  /** Population standard deviation of the window's RTTs. */
  rttStddevMs: number | null;
  /** RFC 3550 J after the latest reply (a running estimate, not reset per window). */
  jitterMs: number | null;
  mos: number | null;
}

interface Entry {
  seq: number;
  sentMono: number;
  answered: boolean;
  rttMs: number;
  reflectorSeq: number | undefined;
}

export interface WindowOptions {
  windowSec: number;
}

/**
 * The sliding window of one path or WAN target. Feed it lost() and
 * answered() in any order (a late answer replaces a loss), then ask
 * snapshot(now). Memory is bounded by rate × windowSec.
 */
export class MetricsWindow {
  readonly windowSec: number;
  private readonly windowMs: number;
  private entries: Entry[] = [];
  private readonly bySeq = new Map<number, Entry>();
  private anchor: GapAnchor = { ...VIRTUAL_ANCHOR };
  /** Highest seq pruned: events at or below it are too old to matter. */
  private prunedSeq = -1;
  private jitter: number | undefined;

  constructor(opts: WindowOptions) {
    this.windowSec = checkNumber('metrics: window', 'windowSec', opts.windowSec, { above: 0, max: 3600 });
    this.windowMs = this.windowSec * 1000;
  }

  /** A probe passed its loss timeout unanswered. */
  lost(p: { seq: number; sentMono: number }): void {
    if (p.seq <= this.prunedSeq || this.bySeq.has(p.seq)) return;
    this.insert({ seq: p.seq, sentMono: p.sentMono, answered: false, rttMs: 0, reflectorSeq: undefined });
  }

  /** A probe was answered (on time or late). reflectorSeq is the STAMP reflector's counter; leave it out for ICMP. */
  answered(p: { seq: number; sentMono: number; rttMs: number; jitterMs: number; reflectorSeq?: number }): void {
    if (p.seq <= this.prunedSeq) return;
    this.jitter = p.jitterMs;
    const e = this.bySeq.get(p.seq);
    if (e) {
      e.answered = true;
      e.rttMs = p.rttMs;
      e.reflectorSeq = p.reflectorSeq;
      return;
    }
    this.insert({ seq: p.seq, sentMono: p.sentMono, answered: true, rttMs: p.rttMs, reflectorSeq: p.reflectorSeq });
  }

  /** The metrics of the probes sent in (now − windowSec, now]. */
  snapshot(nowMono: number): WindowMetrics {
    this.prune(nowMono);
    let answered = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const e of this.entries) {
      if (!e.answered) continue;
      answered++;
      sum += e.rttMs;
      if (e.rttMs < min) min = e.rttMs;
      if (e.rttMs > max) max = e.rttMs;
    }
    const avg = answered ? sum / answered : null;
    let sq = 0;
    if (avg !== null) for (const e of this.entries) if (e.answered) sq += (e.rttMs - avg) ** 2;
    const dir = this.directions();
    const probes = this.entries.length;
    const lost = probes - answered;
    const ratios = lossRatios(probes, lost, dir.fwd, dir.rev);
    const jitterMs = answered ? this.jitter ?? 0 : null;
    return {
      windowSec: this.windowSec,
      probes,
      answered,
      lost,
      lostFwd: dir.fwd,
      lostRev: dir.rev,
      lostUnknown: lost - dir.fwd - dir.rev,
      ...ratios,
      rttMinMs: answered ? min : null,
      rttMs: avg,
      rttMaxMs: answered ? max : null,
      rttStddevMs: avg !== null ? Math.sqrt(sq / answered) : null,
      jitterMs,
      mos: ratios.lossPct === null ? null : mos({ rttMs: avg ?? 0, jitterMs: jitterMs ?? 0, lossPct: ratios.lossPct }),
    };
  }

  /** Count the window's lost probes by direction, gap by gap (see direction.ts). */
  private directions(): { fwd: number; rev: number } {
    let fwd = 0;
    let rev = 0;
    let a = this.anchor;
    let gap: Entry[] = [];
    for (const e of this.entries) {
      if (!e.answered) { gap.push(e); continue; }
      const b = { n: e.seq, r: e.reflectorSeq };
      if (gap.length) {
        const split = splitGap(a, b);
        for (const g of gap) {
          const label = gapLabel(a, g.seq, split);
          if (label === 'fwd') fwd++;
          else if (label === 'rev') rev++;
        }
        gap = [];
      }
      a = b;
    }
    return { fwd, rev };
  }

  private insert(e: Entry): void {
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1]!.seq > e.seq) i--;
    this.entries.splice(i, 0, e);
    this.bySeq.set(e.seq, e);
  }

  private prune(nowMono: number): void {
    const cutoff = nowMono - this.windowMs;
    let k = 0;
    while (k < this.entries.length && this.entries[k]!.sentMono <= cutoff) {
      const e = this.entries[k]!;
      if (e.answered && e.seq > this.anchor.n) this.anchor = { n: e.seq, r: e.reflectorSeq };
      if (e.seq > this.prunedSeq) this.prunedSeq = e.seq;
      this.bySeq.delete(e.seq);
      k++;
    }
    if (k) this.entries = this.entries.slice(k);
  }
}
