// Autorate, after cake-autorate: follow a link whose real rate changes
// (LTE, DOCSIS, a congested ISP) from the latency measured under load.
// Latency well above its baseline while we send means a queue is growing
// beyond our shaper: cut the rate. A loaded link with good latency may have
// more room: raise the rate slowly. Idle: drift back to the configured rate.
import { TernError } from '../lib/errors.js';
import type { Direction } from './plan.js';

export interface RateSettings {
  minBps: number;
  maxBps: number;
  /** The configured rate: where an idle link drifts back to. */
  baseBps: number;
  /** Latency above baseline beyond which a queue is building (ms). */
  latencyTargetMs: number;
  /** Cut to this share of min(rate, achieved) on bufferbloat (cake-autorate: 0.9). */
  downFactor?: number;
  /** Raise by this factor per step when loaded and latency is fine. */
  upFactor?: number;
  /** Achieved/rate at or above which the link counts as loaded. */
  highLoad?: number;
  /** Achieved/rate below which a direction is idle: bufferbloat then is not its doing, so it is not cut. */
  activeLoad?: number;
  /** After a cut, no further change for this long: the queue must drain before latency says anything new (ms). */
  refractoryMs?: number;
  /** Idle drift toward baseBps per step (a factor above 1). */
  decayFactor?: number;
}

const defaults = { downFactor: 0.9, upFactor: 1.04, highLoad: 0.75, activeLoad: 0.1, refractoryMs: 1500, decayFactor: 1.01 };

export type Reason = 'bufferbloat' | 'load' | 'decay';
export type HoldReason = 'no-latency' | 'no-throughput' | 'refractory' | 'idle-bloat' | 'bound' | 'steady';

export interface Decision {
  rateBps: number;
  /** Set when the rate changed. */
  reason?: Reason;
  /** Why it did not, otherwise. */
  hold?: HoldReason;
  achievedBps: number | null;
}

function check(what: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) throw new TernError('TERN_E_QOS_INPUT', `qosd: autorate: got ${what} ${v}; want ${min}-${max}`);
  return v;
}

/** The rate of one direction of one WAN. */
export class RateController {
  private rate: number;
  private lastCut = -Infinity;
  private readonly s: Required<RateSettings>;

  constructor(settings: RateSettings, initialBps?: number) {
    const s = { ...defaults, ...settings };
    check('minBps', s.minBps, 1, s.maxBps);
    check('maxBps', s.maxBps, s.minBps, 1e12);
    check('baseBps', s.baseBps, s.minBps, s.maxBps);
    check('latencyTargetMs', s.latencyTargetMs, 0.1, 10000);
    check('downFactor', s.downFactor, 0.1, 0.999);
    check('upFactor', s.upFactor, 1.001, 2);
    check('decayFactor', s.decayFactor, 1, 2);
    this.s = s;
    const start = initialBps ?? s.baseBps;
    this.rate = Math.min(s.maxBps, Math.max(s.minBps, start));
  }

  get rateBps(): number {
    return this.rate;
  }

  get settings(): Readonly<Required<RateSettings>> {
    return this.s;
  }

  /** Puts the rate back (the kernel refused the last change), within the bounds. */
  reset(rateBps: number): void {
    this.rate = Math.min(this.s.maxBps, Math.max(this.s.minBps, rateBps));
  }

  /**
   * One step. deltaMs: latency above baseline from a fresh measurement, or
   * null when there is none; achievedBps: what the shaper passed since the
   * last step, or null when unknown.
   */
  step(now: number, deltaMs: number | null, achievedBps: number | null): Decision {
    const s = this.s;
    const hold = (h: HoldReason): Decision => ({ rateBps: this.rate, hold: h, achievedBps });
    if (deltaMs === null) return hold('no-latency');
    if (achievedBps === null) return hold('no-throughput');
    if (now - this.lastCut < s.refractoryMs) return hold('refractory');
    const load = achievedBps / this.rate;
    let next: number;
    let reason: Reason;
    if (deltaMs > s.latencyTargetMs) {
      if (load < s.activeLoad) return hold('idle-bloat');
      // What got through is the best guess of what the link carries now.
      next = Math.min(this.rate, achievedBps) * s.downFactor;
      reason = 'bufferbloat';
      this.lastCut = now;
    } else if (load >= s.highLoad) {
      next = this.rate * s.upFactor;
      reason = 'load';
    } else if (this.rate !== s.baseBps) {
      next = this.rate < s.baseBps ? Math.min(s.baseBps, this.rate * s.decayFactor) : Math.max(s.baseBps, this.rate / s.decayFactor);
      reason = 'decay';
    } else {
      return hold('steady');
    }
    next = Math.round(Math.min(s.maxBps, Math.max(s.minBps, next)) / 1000) * 1000;
    if (next === this.rate) return hold('bound');
    this.rate = next;
    return { rateBps: next, reason, achievedBps };
  }
}

/** One latency fact from probed's wan.metrics. */
export interface LatencySample {
  rttMs: number;
  /** probed's own idea of the unloaded RTT, when it has one. */
  rttBaselineMs?: number;
  /** Wall-clock ms the measurement was taken. */
  ts: number;
}

export interface LatencyReading {
  /** Median RTT of the samples since the last step. */
  rttMs: number;
  baselineMs: number;
  /** The delay above baseline bufferbloat is judged on (see LatencyMonitor). */
  deltaMs: number;
  samples: number;
}

export interface LatencyMonitorOptions {
  /** Samples older than this (wall-clock ms) say nothing. */
  staleMs: number;
  /** How many of the latest samples bufferbloat is judged on (cake-autorate: 6). */
  window?: number;
  /** How many of them must be delayed beyond the target (cake-autorate: 3). */
  threshold?: number;
}

/**
 * Turns probed's samples into one reading per autorate step. Bufferbloat is
 * judged on the latest `window` samples, by the `threshold`-th largest delay
 * above baseline: one late reply (a busy CPU, a lost ARP) never cuts the
 * rate, a queue that really grows shows in several in a row. The baseline
 * follows drops at once and rises only very slowly (cake-autorate's EWMA),
 * unless probed says what the baseline is.
 */
export class LatencyMonitor {
  private pending: LatencySample[] = [];
  private recent: Array<{ delta: number; ts: number }> = [];
  private baseline: number | undefined;
  private lastTs = -Infinity;
  private newest: LatencySample | undefined;
  private readonly staleMs: number;
  private readonly window: number;
  private readonly threshold: number;

  constructor(opts: LatencyMonitorOptions) {
    this.staleMs = opts.staleMs;
    this.window = opts.window ?? 6;
    this.threshold = Math.min(opts.threshold ?? 3, this.window);
  }

  add(s: LatencySample): void {
    if (s.ts <= this.lastTs) return;
    this.lastTs = s.ts;
    this.newest = s;
    this.pending.push(s);
    if (s.rttBaselineMs !== undefined) this.baseline = s.rttBaselineMs;
    else if (this.baseline === undefined || s.rttMs < this.baseline) this.baseline = this.baseline === undefined ? s.rttMs : this.baseline + 0.9 * (s.rttMs - this.baseline);
    else this.baseline += 0.001 * (s.rttMs - this.baseline);
    this.recent.push({ delta: Math.max(0, s.rttMs - this.baseline), ts: s.ts });
    if (this.recent.length > this.window) this.recent.shift();
  }

  /** The reading for this step; null when no new sample came (or the newest is older than staleMs). */
  take(nowWall: number): LatencyReading | null {
    const fresh = this.pending.filter((p) => nowWall - p.ts <= this.staleMs);
    this.pending = [];
    if (fresh.length === 0 || this.baseline === undefined) return null;
    const sorted = fresh.map((p) => p.rttMs).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const rtt = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    const deltas = this.recent.filter((r) => nowWall - r.ts <= this.staleMs).map((r) => r.delta).sort((a, b) => b - a);
    // Fewer samples than the threshold: the smallest one, so a lone spike cannot count as a queue.
    const delta = deltas[Math.min(this.threshold, deltas.length) - 1] ?? 0;
    return { rttMs: rtt, baselineMs: this.baseline, deltaMs: delta, samples: fresh.length };
  }

  /** Age of the newest sample, for health (Infinity when none ever came). */
  ageMs(nowWall: number): number {
    return this.newest ? nowWall - this.newest.ts : Infinity;
  }

  get baselineMs(): number | undefined {
    return this.baseline;
  }
}

/** Bytes counters to a rate between two readings; null after a counter reset or without time passing. */
export class ThroughputMeter {
  private last: { bytes: number; at: number } | undefined;

  sample(bytes: number | null, atMono: number): number | null {
    const prev = this.last;
    this.last = bytes === null ? undefined : { bytes, at: atMono };
    if (!prev || bytes === null || bytes < prev.bytes || atMono <= prev.at) return null;
    return ((bytes - prev.bytes) * 8 * 1000) / (atMono - prev.at);
  }
}

export type Rates = Record<Direction, number>;
