// One WAN's health: ICMP echo to each of its probe targets through that WAN
// only, a metrics window and a state machine per target, and the WAN's own
// state and figures from its targets.
//
// A target that stops answering is reported as that target going down; the
// WAN is down only when every target is (state.ts WanHealth). For the same
// reason the WAN's figures leave out the targets that are down while any
// target is not: one dead probe target is not 100 % loss on the link. When
// all are down, all count.
//
// rttBaselineMs is the lowest RTT seen over the last baselineMinutes (10):
// what the link gives when idle, which qosd's autorate compares the current
// RTT against.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { TernError } from '../lib/errors.js';
import { EchoSession, type EchoCounters } from './echo.js';
import type { IcmpTransport } from './icmp.js';
import { MetricsWindow, mos, type WindowMetrics } from './metrics.js';
import type { TimedTransition } from './monitor.js';
import { SampleAggregator, type ProbeSample } from './samples.js';
import { WanHealth, type DegradedThresholds, type HealthState, type Transition } from './state.js';
import { canonicalAddress } from './transport.js';
import { checkName } from '../lib/history/validate.js';

export interface WanProbeSettings {
  wan: string;
  targets: string[];
  ratePerSec: number;
  windowSec: number;
  downAfter: number;
  upAfter: number;
  degraded: DegradedThresholds;
}

/** One target's window. */
export interface WanTargetMetrics extends WindowMetrics {
  target: string;
  state: HealthState;
  counters: EchoCounters;
}

/** The WAN's figures: qosd reads {wan, rttLatestMs, rttBaselineMs?, lossPct, jitterMs, ts}. */
export interface WanMetrics {
  wan: string;
  state: HealthState;
  /** Wall-clock ms of this snapshot. */
  ts: number;
  windowSec: number;
  /** Decided probes counted (of the targets that count, see above). */
  probes: number;
  lossPct: number | null;
  /** Average RTT of the window's answered probes (as rttMs on path.metrics). */
  rttMs: number | null;
  /**
   * RTT of the latest round: the mean of the replies that came in it (what
   * autorate reacts to); the window's average when none came in it.
   */
  rttLatestMs: number | null;
  rttMinMs: number | null;
  rttMaxMs: number | null;
  /** Lowest RTT of the last baselineMinutes; absent until a reply came. */
  rttBaselineMs?: number;
  jitterMs: number | null;
  mos: number | null;
  targets: WanTargetMetrics[];
}

export interface WanMonitorOptions {
  settings: WanProbeSettings;
  /** One transport per address family the targets use. */
  transports: Partial<Record<4 | 6, IcmpTransport>>;
  clock?: Clock;
  /** How often the sockets are read while a probe is outstanding (default 10 ms). */
  pollMs?: number;
  /** How far back rttBaselineMs looks (default 10 minutes). */
  baselineMinutes?: number;
  onTransition?: (t: TimedTransition) => void;
  /** Per target (subject wan@target) and for the WAN (subject wan), one per second of probing. */
  onSample?: (s: ProbeSample) => void;
}

interface Target {
  address: string;
  family: 4 | 6;
  session: EchoSession;
  window: MetricsWindow;
  samples: SampleAggregator;
}

/** The history subject of one WAN target. */
export function wanTargetSubject(wan: string, target: string): string {
  return `${wan}@${target}`;
}

export class WanMonitor {
  readonly wan: string;
  private readonly clock: Clock;
  private readonly settings: WanProbeSettings;
  private readonly transports: Partial<Record<4 | 6, IcmpTransport>>;
  private readonly pollMs: number;
  private readonly baselineMs: number;
  private readonly health: WanHealth;
  private readonly targets = new Map<string, Target>();
  private readonly wanSamples: SampleAggregator;
  private readonly opts: WanMonitorOptions;
  /** Lowest RTT per minute, oldest first: [minute start (monotonic ms), rtt]. */
  private readonly minutes: Array<[number, number]> = [];
  private poller: TimerHandle | undefined;
  private foreignReplies = 0;
  /** RTTs of the replies since the last round(). */
  private roundRtts: number[] = [];
  private lastRoundRtt: number | null = null;

  constructor(opts: WanMonitorOptions) {
    const s = opts.settings;
    this.wan = checkName('wan: new', 'wan', s?.wan);
    this.opts = opts;
    this.settings = s;
    this.clock = opts.clock ?? systemClock;
    this.transports = opts.transports;
    this.pollMs = opts.pollMs ?? 10;
    this.baselineMs = (opts.baselineMinutes ?? 10) * 60_000;
    const addresses = s.targets.map(canonicalAddress);
    this.health = new WanHealth(s.wan, addresses, s);
    this.wanSamples = new SampleAggregator(s.wan, (x) => opts.onSample?.(x));
    for (const address of addresses) {
      const family = address.includes(':') ? 6 : 4;
      const transport = this.transports[family];
      if (!transport) throw new TernError('TERN_E_PROBE_ARG', `wan: ${s.wan}: target ${address} is IPv${family}; want a transport for that family`);
      const t: Target = {
        address,
        family,
        window: new MetricsWindow({ windowSec: s.windowSec }),
        samples: new SampleAggregator(wanTargetSubject(s.wan, address), (x) => opts.onSample?.(x)),
        session: undefined as unknown as EchoSession,
      };
      t.session = new EchoSession({
        ratePerSec: s.ratePerSec,
        clock: this.clock,
        send: (seq) => {
          const sent = transport.send(address, seq);
          this.ensurePolling();
          return sent;
        },
        beforeTimeout: () => this.poll(),
        listener: {
          answered: (p) => {
            t.window.answered({ seq: p.seq, sentMono: p.sentMono, rttMs: p.rttMs, jitterMs: p.jitterMs });
            this.noteRtt(p.rttMs);
            this.roundRtts.push(p.rttMs);
            this.decided(t, true);
          },
          lost: (p) => {
            t.window.lost(p);
            this.decided(t, false);
          },
          final: (p) => {
            t.samples.add(p);
            // The WAN's own history leaves out a target that is down while
            // another is not (a dead target is not link loss).
            const st = this.health.targets().find((x) => x.target === address)?.state;
            if (st !== 'down' || this.health.state === 'down') this.wanSamples.add(p);
          },
        },
      });
      this.targets.set(address, t);
    }
  }

  start(): void {
    for (const t of this.targets.values()) t.session.start();
  }

  /** Stop probing, emit the last samples; the transports stay open (their owner closes them). */
  stop(): void {
    this.clock.clearInterval(this.poller);
    this.poller = undefined;
    this.poll();
    for (const t of this.targets.values()) {
      t.session.stop();
      t.samples.flush();
    }
    this.wanSamples.flush();
  }

  get state(): HealthState { return this.health.state; }

  /** Read every reply waiting and hand it to its target's session. */
  poll(): void {
    for (const transport of Object.values(this.transports)) {
      for (;;) {
        let replies;
        try {
          replies = transport.receive(64);
        } catch {
          break;
        }
        for (const r of replies) {
          const t = this.targets.get(r.from);
          if (!t) { this.foreignReplies++; continue; }
          t.session.receive(r);
        }
        if (replies.length < 64) break;
      }
    }
    if (this.poller && ![...this.targets.values()].some((t) => t.session.pending > 0)) {
      this.clock.clearInterval(this.poller);
      this.poller = undefined;
    }
  }

  metrics(): WanMetrics {
    const now = this.clock.monotonic();
    const states = new Map(this.health.targets().map((x) => [x.target, x.state]));
    const targets: WanTargetMetrics[] = [...this.targets.values()].map((t) => ({
      ...t.window.snapshot(now), target: t.address, state: states.get(t.address) ?? 'unknown', counters: t.session.counters(),
    }));
    const allDown = targets.every((t) => t.state === 'down');
    const counted = targets.filter((t) => allDown || t.state !== 'down');
    let probes = 0;
    let lost = 0;
    let answered = 0;
    let rttSum = 0;
    let jitterSum = 0;
    let min: number | null = null;
    let max: number | null = null;
    for (const t of counted) {
      probes += t.probes;
      lost += t.lost;
      answered += t.answered;
      if (t.answered && t.rttMs !== null) {
        rttSum += t.rttMs * t.answered;
        jitterSum += (t.jitterMs ?? 0) * t.answered;
        min = min === null ? t.rttMinMs : Math.min(min, t.rttMinMs!);
        max = max === null ? t.rttMaxMs : Math.max(max, t.rttMaxMs!);
      }
    }
    const lossPct = probes ? (100 * lost) / probes : null;
    const rttMs = answered ? rttSum / answered : null;
    const jitterMs = answered ? jitterSum / answered : null;
    const baseline = this.baseline(now);
    return {
      wan: this.wan,
      state: this.health.state,
      ts: this.clock.now(),
      windowSec: this.settings.windowSec,
      probes,
      lossPct,
      rttMs,
      rttLatestMs: this.lastRoundRtt ?? rttMs,
      rttMinMs: min,
      rttMaxMs: max,
      ...(baseline !== null ? { rttBaselineMs: baseline } : {}),
      jitterMs,
      mos: lossPct === null ? null : mos({ rttMs: rttMs ?? 0, jitterMs: jitterMs ?? 0, lossPct }),
      targets,
    };
  }

  /**
   * Close a round (the daemon calls this every 1/rate s): the figures with
   * this round's RTT, or undefined while there is no RTT, loss or jitter to
   * tell (nothing answered in the window: wan.state says the WAN is down).
   */
  round(): WanMetrics | undefined {
    if (this.roundRtts.length) {
      this.lastRoundRtt = this.roundRtts.reduce((a, x) => a + x, 0) / this.roundRtts.length;
      this.roundRtts = [];
    } else {
      this.lastRoundRtt = null;
    }
    const m = this.metrics();
    return m.rttLatestMs === null || m.lossPct === null || m.jitterMs === null ? undefined : m;
  }

  /** Replies from addresses that are not targets (counted, dropped). */
  get foreign(): number { return this.foreignReplies; }

  private ensurePolling(): void {
    if (!this.poller) this.poller = this.clock.setInterval(() => this.poll(), this.pollMs);
  }

  private decided(t: Target, answered: boolean): void {
    const out: Transition[] = this.health.probe(t.address, answered);
    out.push(...this.health.metrics(t.address, t.window.snapshot(this.clock.monotonic())));
    const at = this.clock.now();
    for (const tr of out) this.opts.onTransition?.({ ...tr, at });
  }

  private noteRtt(rtt: number): void {
    const now = this.clock.monotonic();
    const minute = Math.floor(now / 60_000) * 60_000;
    const last = this.minutes[this.minutes.length - 1];
    if (last && last[0] === minute) last[1] = Math.min(last[1], rtt);
    else this.minutes.push([minute, rtt]);
    while (this.minutes.length && this.minutes[0]![0] <= now - this.baselineMs) this.minutes.shift();
  }

  private baseline(now: number): number | null {
    let b: number | null = null;
    for (const [minute, rtt] of this.minutes) if (minute > now - this.baselineMs && (b === null || rtt < b)) b = rtt;
    return b;
  }
}
