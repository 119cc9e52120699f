// One overlay path's probing, end to end and still without sockets: a STAMP
// session feeding the metrics window, the state machine and the per-second
// history samples. The daemon gives it a send function and hands it the
// datagrams that arrive; it gets back transitions, metrics every probe round
// and samples to record.
import { systemClock, type Clock } from '../lib/clock/index.js';
import { MetricsWindow, type WindowMetrics } from './metrics.js';
import { SampleAggregator, type ProbeSample } from './samples.js';
import { Session, type ReceiveOutcome, type SessionCounters, type SessionOptions } from './session.js';
import { HealthStateMachine, type DegradedThresholds, type HealthState, type Transition } from './state.js';
import { checkName } from '../lib/history/validate.js';

/** The probes config keys a path uses (config probes; TernConfig['probes'] fits). */
export interface PathProbeSettings {
  pathRatePerSec: number;
  windowSec: number;
  downAfter: number;
  upAfter: number;
  degraded: DegradedThresholds;
}

/**
 * How long a new path may stay silent before it is called down: two of
 * WireGuard's handshake retries (REKEY_TIMEOUT 5 s, plus jitter), so a
 * tunnel whose first initiation went unanswered (the far end not up yet)
 * is not reported down. Counted in probes at the path's rate.
 */
export const FIRST_ANSWER_GRACE_SEC = 12;

export function firstAnswerGrace(s: Pick<PathProbeSettings, 'pathRatePerSec' | 'downAfter'>): number {
  return Math.max(s.downAfter, Math.ceil(s.pathRatePerSec * FIRST_ANSWER_GRACE_SEC));
}

export interface PathMetrics extends WindowMetrics {
  path: string;
  state: HealthState;
  /** Wall-clock ms of this snapshot. */
  at: number;
}

export interface TimedTransition extends Transition {
  /** Wall-clock ms. */
  at: number;
}

export interface PathMonitorOptions {
  /** Path id: localWan/site/remoteWan. */
  path: string;
  settings: PathProbeSettings;
  send: (bytes: Uint8Array) => void;
  clock?: Clock;
  /** Session tuning beyond the config (timeouts, packet size). */
  session?: Pick<SessionOptions, 'packetBytes' | 'minLossTimeoutMs' | 'maxLossTimeoutMs' | 'initialLossTimeoutMs' | 'lateWindowMs' | 'attributionHoldMs'>;
  onTransition?: (t: TimedTransition) => void;
  /** After every decided probe (answer or loss). */
  onMetrics?: (m: PathMetrics) => void;
  /** One per second of probing, for History.record(). */
  onSample?: (s: ProbeSample) => void;
}

export class PathMonitor {
  readonly path: string;
  private readonly clock: Clock;
  private readonly session: Session;
  private readonly window: MetricsWindow;
  private readonly machine: HealthStateMachine;
  private readonly samples: SampleAggregator;
  private readonly opts: PathMonitorOptions;

  constructor(opts: PathMonitorOptions) {
    this.path = checkName('monitor: new', 'path', opts.path);
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.window = new MetricsWindow({ windowSec: opts.settings.windowSec });
    this.machine = new HealthStateMachine(opts.path, { ...opts.settings, firstAnswerGrace: firstAnswerGrace(opts.settings) });
    this.samples = new SampleAggregator(opts.path, (s) => opts.onSample?.(s));
    this.session = new Session({
      ...opts.session,
      ratePerSec: opts.settings.pathRatePerSec,
      send: opts.send,
      clock: this.clock,
      listener: {
        answered: (p) => {
          this.window.answered({ seq: p.seq, sentMono: p.sentMono, rttMs: p.rttMs, jitterMs: p.jitterMs, reflectorSeq: p.reflectorSeq });
          this.decided(true);
        },
        lost: (p) => {
          this.window.lost(p);
          this.decided(false);
        },
        // Before the first answer: no data for the window or history, only
        // the count that calls a path that never answers down.
        unanswered: () => this.emit(this.machine.unanswered()),
        final: (p) => this.samples.add(p),
      },
    });
  }

  start(): void { this.session.start(); }

  get running(): boolean { return this.session.running; }

  /** Stop probing and emit the last samples. */
  stop(): void {
    this.session.stop();
    this.samples.flush();
  }

  /** A datagram from the path's probe socket. */
  receive(bytes: Uint8Array, rxMono?: number): ReceiveOutcome {
    return this.session.receive(bytes, rxMono);
  }

  get state(): HealthState { return this.machine.state; }
  /** Lost probes in a row now (the state machine's count). */
  get consecutiveLost(): number { return this.machine.consecutiveLost; }
  /** Answered probes in a row now. */
  get consecutiveAnswered(): number { return this.machine.consecutiveAnswered; }

  metrics(): PathMetrics {
    return { ...this.window.snapshot(this.clock.monotonic()), path: this.path, state: this.machine.state, at: this.clock.now() };
  }

  counters(): SessionCounters { return this.session.counters(); }

  private decided(answered: boolean): void {
    this.emit(this.machine.probe(answered));
    const m = this.window.snapshot(this.clock.monotonic());
    this.emit(this.machine.metrics(m));
    this.opts.onMetrics?.({ ...m, path: this.path, state: this.machine.state, at: this.clock.now() });
  }

  private emit(t: Transition | undefined): void {
    if (t) this.opts.onTransition?.({ ...t, at: this.clock.now() });
  }
}
