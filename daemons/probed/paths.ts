// The set of overlay paths being probed: one PathMonitor and one socket per
// path, made and dropped as tunneld's path list changes, remade when the
// path's settings or ends change. Each round the daemon takes the metrics of
// the paths that decided a probe since the last round.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import type { WindowMetrics } from './metrics.js';
import { PathMonitor, type PathMetrics, type PathProbeSettings, type TimedTransition } from './monitor.js';
import type { ProbeSample } from './samples.js';
import type { SessionCounters } from './session.js';
import type { HealthState } from './state.js';
import type { PathEnds, PathSocket, PathSocketCounters, PathSocketFactory } from './transport.js';

/** A path as probed knows it. */
export interface PathInfo extends PathEnds {
  site: string;
  localWan: string;
  remoteWan: string;
}

/** path.metrics: one path's window (metrics.ts), every round. */
export interface PathMetricsMessage extends WindowMetrics {
  path: string;
  site: string;
  localWan: string;
  remoteWan: string;
  state: HealthState;
  /** Wall-clock ms of the snapshot. */
  ts: number;
  ratePerSec: number;
}

/** path.state: a transition, at once. */
export interface PathStateMessage {
  path: string;
  site: string;
  localWan: string;
  remoteWan: string;
  from: HealthState;
  to: HealthState;
  cause: TimedTransition['cause'];
  reason: string;
  ts: number;
  consecutiveLost: number;
  consecutiveAnswered: number;
  /** Probes sent since the last reply arrived: how many went into an outage before it was called down. */
  sentSinceReply: number;
}

export interface PathProberOptions {
  /** The far reflectors' UDP port (config probes.port). */
  port: number;
  sockets: PathSocketFactory;
  /** The settings of one path (its class's rate). */
  settingsFor: (path: string) => PathProbeSettings;
  clock?: Clock;
  logger?: Logger;
  onState?: (m: PathStateMessage) => void;
  onSample?: (s: ProbeSample) => void;
  /** Longest wait for a path's socket before probing starts anyway (default 2000 ms). */
  startGraceMs?: number;
}

interface Probed {
  info: PathInfo;
  settings: PathProbeSettings;
  key: string;
  monitor: PathMonitor;
  socket: PathSocket;
  latest: PathMetrics | undefined;
  dirty: boolean;
  sentSinceReply: number;
  grace: TimerHandle | undefined;
  /** Waiting for the path's place in the probe interval (phaseOffsetMs). */
  phase: TimerHandle | undefined;
}

/**
 * Where in its probe interval a path's beat sits: an FNV-1a hash of the path
 * id spread over [0, intervalMs). Paths are mostly added together (probed
 * starting, tunneld's first list) and their sockets open within a few ms of
 * each other; started at once, every path would probe in the same instant,
 * one burst of as many probes as paths each round (500 at 500 paths) instead
 * of a steady stream, and each reply would wait for the rest of the burst to
 * be sent before it was read: the burst's length measured as RTT and jitter
 * (tens of ms, every path degraded in test/bench/probed.bench.ts). A hash
 * rather than a counter: the same path keeps its place across restarts and
 * reloads, whatever else is added or removed.
 */
export function phaseOffsetMs(path: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // FNV's low bits mix poorly for short keys that differ in their last characters: finish with a murmur3 fmix32.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) / 0x1_0000_0000) * intervalMs;
}

const endsKey = (p: PathInfo): string => `${p.ifname}|${p.localAddress}|${p.remoteAddress}`;
const settingsKey = (s: PathProbeSettings): string => JSON.stringify([s.pathRatePerSec, s.windowSec, s.downAfter, s.upAfter, s.degraded]);

export class PathProber {
  private readonly paths = new Map<string, Probed>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private port: number;
  private readonly startGraceMs: number;

  constructor(private readonly opts: PathProberOptions) {
    this.clock = opts.clock ?? systemClock;
    this.startGraceMs = opts.startGraceMs ?? 2000;
    this.log = opts.logger ?? silentLogger();
    this.port = opts.port;
  }

  /** Probe exactly these paths; returns what changed. */
  setPaths(list: PathInfo[]): { added: string[]; removed: string[]; replaced: string[] } {
    const want = new Map(list.map((p) => [p.name, p]));
    const out = { added: [] as string[], removed: [] as string[], replaced: [] as string[] };
    for (const [name, p] of this.paths) {
      if (!want.has(name)) {
        this.drop(p);
        this.paths.delete(name);
        out.removed.push(name);
      }
    }
    for (const info of want.values()) {
      const cur = this.paths.get(info.name);
      if (cur && endsKey(cur.info) === endsKey(info)) {
        cur.info = info;
        continue;
      }
      if (cur) {
        this.drop(cur);
        out.replaced.push(info.name);
      } else {
        out.added.push(info.name);
      }
      this.add(info);
    }
    return out;
  }

  /** Settings may have changed (reload): remake the paths whose settings did. */
  refreshSettings(): string[] {
    const changed: string[] = [];
    for (const p of [...this.paths.values()]) {
      const s = this.opts.settingsFor(p.info.name);
      if (settingsKey(s) === p.key) continue;
      this.drop(p);
      this.add(p.info);
      changed.push(p.info.name);
    }
    return changed;
  }

  /** A new reflector port: every path starts again. */
  setPort(port: number): void {
    if (port === this.port) return;
    this.port = port;
    for (const p of [...this.paths.values()]) {
      this.drop(p);
      this.add(p.info);
    }
  }

  names(): string[] { return [...this.paths.keys()].sort(); }

  /** This end's address of every path, with its interface (fe80::1:0%tn1-2-00): where the reflector answers. */
  localAddresses(): string[] {
    return [...this.paths.values()].map((p) => `${p.info.localAddress}%${p.info.ifname}`);
  }

  /** The metrics of the paths that decided a probe since the last call (one round). */
  takeRound(): PathMetricsMessage[] {
    const out: PathMetricsMessage[] = [];
    for (const p of this.paths.values()) {
      if (!p.dirty || !p.latest) continue;
      p.dirty = false;
      out.push(message(p, p.latest));
    }
    return out;
  }

  /** The current window of every path, or of one. */
  metrics(path?: string): Array<PathMetricsMessage & { counters: SessionCounters; socket: PathSocketCounters }> {
    const out = [];
    for (const p of this.paths.values()) {
      if (path !== undefined && p.info.name !== path) continue;
      out.push({ ...message(p, p.monitor.metrics()), counters: p.monitor.counters(), socket: p.socket.counters() });
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** How many paths are in each state. */
  summary(): Record<HealthState | 'total', number> {
    const s = { total: 0, up: 0, degraded: 0, down: 0, unknown: 0 };
    for (const p of this.paths.values()) {
      s.total++;
      s[p.monitor.state]++;
    }
    return s;
  }

  stop(): void {
    for (const p of this.paths.values()) this.drop(p);
    this.paths.clear();
  }

  private add(info: PathInfo): void {
    const settings = this.opts.settingsFor(info.name);
    const p: Probed = {
      info, settings, key: settingsKey(settings), latest: undefined, dirty: false, sentSinceReply: 0, grace: undefined, phase: undefined,
      monitor: undefined as unknown as PathMonitor, socket: undefined as unknown as PathSocket,
    };
    p.monitor = new PathMonitor({
      path: info.name,
      settings,
      clock: this.clock,
      send: (bytes) => {
        p.sentSinceReply++;
        p.socket.send(bytes);
      },
      onMetrics: (m) => { p.latest = m; p.dirty = true; },
      onSample: (s) => this.opts.onSample?.(s),
      onTransition: (t) => this.opts.onState?.({
        path: info.name, site: p.info.site, localWan: p.info.localWan, remoteWan: p.info.remoteWan,
        from: t.from, to: t.to, cause: t.cause, reason: t.reason, ts: t.at,
        consecutiveLost: p.monitor.consecutiveLost, consecutiveAnswered: p.monitor.consecutiveAnswered, sentSinceReply: p.sentSinceReply,
      }),
    });
    // Probing starts when the socket is open, so a path is not charged with
    // the probes of its first moments; or after startGraceMs regardless, so a
    // path whose interface is missing is seen down rather than never judged.
    // Either way at the path's own place in the interval (phaseOffsetMs).
    const start = (): void => {
      this.clock.clearTimeout(p.grace);
      p.grace = undefined;
      if (this.paths.get(info.name) !== p || p.monitor.running || p.phase !== undefined) return;
      p.phase = this.clock.setTimeout(() => {
        p.phase = undefined;
        if (this.paths.get(info.name) === p && !p.monitor.running) p.monitor.start();
      }, phaseOffsetMs(info.name, 1000 / settings.pathRatePerSec));
    };
    p.grace = this.clock.setTimeout(start, this.startGraceMs);
    p.socket = this.opts.sockets(info, this.port, (bytes, rx) => {
      const outcome = p.monitor.receive(bytes, rx);
      if (outcome === 'answered' || outcome === 'late') p.sentSinceReply = 0;
    }, start);
    this.paths.set(info.name, p);
    this.log.info({ path: info.name, ifname: info.ifname, ratePerSec: settings.pathRatePerSec }, 'probed: path: probing');
  }

  private drop(p: Probed): void {
    this.clock.clearTimeout(p.grace);
    p.grace = undefined;
    this.clock.clearTimeout(p.phase);
    p.phase = undefined;
    try {
      p.monitor.stop();
    } catch (err) {
      this.log.warn({ path: p.info.name, err: errorMessage(err) }, 'probed: path: stop failed');
    }
    p.socket.close();
  }
}

function message(p: Probed, m: PathMetrics): PathMetricsMessage {
  const { path: _path, state, at, ...window } = m;
  return {
    path: p.info.name,
    site: p.info.site,
    localWan: p.info.localWan,
    remoteWan: p.info.remoteWan,
    state,
    ts: at,
    ratePerSec: p.settings.pathRatePerSec,
    ...window,
  };
}
