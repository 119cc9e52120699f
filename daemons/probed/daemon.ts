// tern-probed as a daemon: the STAMP reflector on probes.port, a STAMP
// session on every overlay path tunneld lists, ICMP echo to every WAN's
// targets, metrics on the bus every round, state changes at once, history
// and events in the state database. What to probe and how comes from
// plans.ts; this file runs it.
//
// Bus (socket probed.sock):
//   methods  paths.metrics {path?}   latest window of every path (or one)
//            wans.metrics {wan?}     latest figures of every WAN, per target too
//            history.query {subject, from, to, resolution?}   the loss report's numbers
//            history.subjects        subjects with history
//            reflector.stats         the reflector's counters
//   topics   path.metrics   every round (1 / probes.pathRatePerSec), one per path that decided a probe in it
//            path.state     at once, on every transition
//            wan.metrics    every WAN round (1 / the WAN's rate), one per WAN that has figures
//            wan.state      at once, for the WAN and for each of its targets (target set);
//                           cause 'gateway' when a DHCP WAN's gateway went away
import { probedApi, type ProbedMethods as ProbedApiMethods, type ProbedTopics, type WanStateT } from '../lib/api/index.js';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import { History, type HistoryQuery, type HistoryResult, type HistoryStore } from '../lib/history/index.js';
import { Rtnl } from '../lib/kernel/index.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { overlayPlan, type OverlayPlan } from '../lib/overlay/index.js';
import { socketPath } from '../lib/paths/index.js';
import type { BusServer } from '../lib/bus/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { GatewayWatcher } from './gateway.js';
import { nativeIcmp, type IcmpTransport, type IcmpTransportFactory } from './icmp.js';
import { PathProber, type PathStateMessage } from './paths.js';
import { dhcpWans, knownPeers, pathSettings, wanPlans, type WanSource } from './plans.js';
import { Reflector } from './reflector.js';
import { ReflectorServer, udpPathSockets, type PathSocketFactory } from './transport.js';
import { TunneldWatcher, pathInfos, plannedPaths, type TunneldPath } from './tunnels.js';
import { WanMonitor, type WanProbeSettings } from './wan.js';
import { HistoryWriter } from './writer.js';

export type { PathMetricsMessage, PathStateMessage } from './paths.js';
export type { WanMetrics } from './wan.js';

/** wan.state: a WAN's or one of its targets' transition (daemons/lib/api/probed.ts WanState). */
export type WanStateMessage = WanStateT;

/** What probed's bus offers: declared once in daemons/lib/api/probed.ts. */
export type ProbedMethods = ProbedApiMethods;

/** Where a DHCP WAN's gateway is found: the kernel's routes of these tables (rtnl RouteInfo). */
export interface RouteReader {
  read(tables: number[]): Promise<unknown[]>;
  close(): void;
}

/** Injectable I/O, for tests; real defaults. */
export interface ProbedDeps {
  pathSockets?: (clock: Clock, logger: Logger) => PathSocketFactory;
  icmp?: () => IcmpTransportFactory;
  /** tunneld's socket; default <runDir>/tunneld.sock. */
  tunneldSocket?: (ctx: DaemonContext) => string;
  /** How long to wait for tunneld before probing the planned paths (default 5000 ms). */
  tunneldGraceMs?: number;
  /** The route reader; default rtnetlink, opened only when some WAN needs it. */
  routes?: (logger: Logger) => RouteReader;
}

/** The real route reader: one rtnetlink socket, opened on first use. */
function rtnlRoutes(logger: Logger): RouteReader {
  const rtnl = new Rtnl({ logger });
  return { read: (tables) => rtnl.routesIn(tables), close: () => rtnl.close() };
}

/**
 * The wall clock the reflector stamps T2 and T3 with: sub-millisecond, so
 * their difference (the reflector's processing time) is not rounded to 0 or
 * 1 ms. Only differences of its readings are used, so riding the monotonic
 * clock from the process start is exactly what is wanted.
 */
const fineWallClock: Clock = { ...systemClock, now: () => performance.timeOrigin + performance.now() };

/** One probed WAN: its monitor, its ICMP sockets and its round timer. */
interface WanRunner {
  /** The plan it was started from: another plan remakes it. */
  key: string;
  monitor: WanMonitor;
  transports: IcmpTransport[];
  round: TimerHandle;
}

/** A WAN plan of wanPlans(). */
type WanPlan = ReturnType<typeof wanPlans>[number];
type ProbeSettingsPlan = Extract<WanPlan, { settings: WanProbeSettings }>;
type WaitingPlan = Extract<WanPlan, { waiting: string }>;

/** How often path addresses are bound again and DHCP gateways read again. */
const housekeepingMs = 1000;
/**
 * A gateway reading dumps every route and link of the box: ~1.5 ms of CPU
 * with 40 routes, ~40 ms with 3000 routes and 500 links. Readings are
 * spaced so they take at most ~2 % of the time: every second on a small
 * box, every few seconds on a big one.
 */
const gatewayReadSpacing = 49;

/** The probing of one running probed: reflector, paths, WANs, history. */
export class Probed {
  private readonly ctx: DaemonContext;
  private readonly deps: ProbedDeps;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly bus: BusServer<ProbedMethods, ProbedTopics>;
  private config: TernConfig;
  private plan: OverlayPlan;

  /** Set in start(): the state database is opened there. */
  private store!: HistoryStore;
  private history!: History;
  private writer!: HistoryWriter;

  private readonly reflectorClock: Clock;
  private reflector: Reflector;
  private reflectorServer: ReflectorServer;
  /** Addresses the reflector answers at full rate (knownPeers). */
  private known: Set<string>;

  private readonly prober: PathProber;
  private readonly tunneld: TunneldWatcher;
  private tunneldPaths: TunneldPath[] = [];
  /** tunneld never answered within its grace: the planned paths are probed. */
  private usePlan = false;

  private readonly icmp: IcmpTransportFactory;
  private readonly wans = new Map<string, WanRunner>();
  /** WANs waiting for their DHCP gateway: name → the status text. */
  private readonly waiting = new Map<string, string>();
  private readonly gateways: GatewayWatcher;
  private routeReader: RouteReader | undefined;
  private nextGatewayRead = 0;

  private graceTimer: TimerHandle | undefined;
  private housekeepingTimer: TimerHandle | undefined;
  private pathRoundTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(ctx: DaemonContext, deps: ProbedDeps = {}) {
    this.ctx = ctx;
    this.deps = deps;
    this.log = componentLogger(ctx.logger, 'probed');
    this.clock = ctx.clock;
    this.bus = contractBus(ctx, probedApi);
    this.config = ctx.config;
    this.plan = overlayPlan(ctx.config);
    this.known = knownPeers(this.plan);
    this.reflectorClock = this.clock === systemClock ? fineWallClock : this.clock;
    this.reflector = this.newReflector(this.config.probes.port);
    this.reflectorServer = this.newReflectorServer(this.reflector, this.config.probes.port);
    this.prober = new PathProber({
      port: this.config.probes.port,
      sockets: (deps.pathSockets ?? ((c, l) => udpPathSockets({ clock: c, logger: l })))(this.clock, this.log),
      settingsFor: (p) => pathSettings(this.config, p),
      clock: this.clock,
      logger: this.log,
      onState: (m) => this.publishPathState(m),
      onSample: (s) => this.writer.add(s),
    });
    this.tunneld = new TunneldWatcher({
      socketPath: deps.tunneldSocket?.(ctx) ?? socketPath(ctx.paths, 'tunneld'),
      clock: this.clock,
      logger: this.log,
      onList: (list) => this.onTunneldList(list),
    });
    this.icmp = (deps.icmp ?? (() => nativeIcmp()))();
    // DHCP WANs without targets of their own probe their learned gateway.
    this.gateways = new GatewayWatcher({
      read: (tables) => {
        this.routeReader ??= (deps.routes ?? rtnlRoutes)(this.log);
        return this.routeReader.read(tables);
      },
      logger: this.log,
    });
  }

  /**
   * The reflector first, so the far ends' probes are answered even before
   * this box knows its own paths; then the paths (tunneld's, or the plan's
   * once tunneld stays silent), then the WANs.
   */
  async start(): Promise<void> {
    this.store = await this.ctx.store();
    this.history = this.newHistory(this.config);
    this.writer = new HistoryWriter({
      store: this.store, history: this.history, clock: this.clock, logger: this.log,
      onHealth: (problem) => this.ctx.health.check('probed.history', problem !== undefined, problem ?? '', 'error'),
    });
    this.writer.start();
    await this.reflectorServer.start();
    this.startPaths();
    // A gateway already there at start is probed at once, not after a tick.
    await this.watchGateways();
    this.startWans();
  }

  async reload(next: TernConfig): Promise<void> {
    const plan = overlayPlan(next);
    if (next.probes.port !== this.config.probes.port) await this.moveReflector(next.probes.port);
    const rateChanged = next.probes.pathRatePerSec !== this.config.probes.pathRatePerSec;
    this.config = next;
    this.plan = plan;
    this.known = knownPeers(this.plan, this.tunneldPaths);
    this.history = this.newHistory(next);
    this.writer.setHistory(this.history);
    this.prober.setPort(next.probes.port);
    this.prober.refreshSettings();
    this.applyPaths('reload');
    if (rateChanged) {
      this.clock.clearInterval(this.pathRoundTimer);
      this.pathRoundTimer = this.startPathRound();
    }
    await this.watchGateways();
    this.startWans();
  }

  /** What daemon.status adds: paths, WANs (and DHCP gateways), reflector, tunneld, history. */
  status(): Record<string, unknown> {
    return {
      paths: this.prober.summary(),
      wans: Object.fromEntries([...[...this.wans].map(([n, w]) => [n, w.monitor.state]), ...[...this.waiting.keys()].map((n) => [n, 'waiting'])]),
      ...(this.gateways.watching ? { dhcpGateways: this.dhcpGatewayStatus() } : {}),
      reflector: { ...this.reflector.counters(), listening: this.reflectorServer.stats().listening },
      tunneld: { connected: this.tunneld.connected, listed: this.tunneld.hasListed, paths: this.tunneldPaths.length, refused: this.tunneld.refused },
      history: this.writer.getStats(),
    };
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.graceTimer);
    this.clock.clearInterval(this.housekeepingTimer);
    this.clock.clearInterval(this.pathRoundTimer);
    this.stopped = true;
    for (const w of this.wans.values()) this.stopWan(w);
    this.wans.clear();
    // Let a reading under way finish before its socket closes.
    this.gateways.setWans([]);
    await this.gateways.refresh();
    this.routeReader?.close();
    this.prober.stop();
    await this.tunneld.stop();
    await this.reflectorServer.close();
    await this.writer.stop();
  }

  /** paths.metrics: every path's window, or one path's. */
  pathMetrics(path?: string): ReturnType<PathProber['metrics']> {
    return this.prober.metrics(path);
  }

  /** wans.metrics: every probed WAN's figures, or one WAN's. */
  wanMetrics(wan?: string): Array<ReturnType<WanMonitor['metrics']>> {
    return [...this.wans.values()].map((w) => w.monitor.metrics()).filter((m) => wan === undefined || m.wan === wan);
  }

  /** history.query: what is queued is not in the database yet, so it is written first and a report includes the last second. */
  async historyQuery(q: HistoryQuery): Promise<HistoryResult> {
    await this.writer.flush();
    return this.history.query(q);
  }

  historySubjects(): Promise<string[]> {
    return this.history.subjects();
  }

  reflectorStats(): Record<string, unknown> {
    return { ...this.reflector.counters(), ...this.reflector.tableSizes(), ...this.reflectorServer.stats(), knownPeers: this.known.size };
  }

  private newHistory(cfg: TernConfig): History {
    return new History(this.store, { retention: cfg.probes.history, clock: this.clock });
  }

  private newReflector(port: number): Reflector {
    return new Reflector({ clock: this.reflectorClock, isKnownPeer: (a) => this.known.has(a), port });
  }

  private newReflectorServer(reflector: Reflector, port: number): ReflectorServer {
    return new ReflectorServer({ reflector, port, clock: this.reflectorClock, logger: this.log });
  }

  /** A new probes.port: the new one is bound before the old one is let go, so a port in use refuses the reload and the old reflector keeps answering. */
  private async moveReflector(port: number): Promise<void> {
    const reflector = this.newReflector(port);
    const server = this.newReflectorServer(reflector, port);
    await server.start();
    await this.reflectorServer.close();
    this.reflector = reflector;
    this.reflectorServer = server;
    server.setLocals(this.prober.localAddresses());
  }

  // Paths.

  private startPaths(): void {
    this.housekeepingTimer = this.clock.setInterval(() => this.housekeeping(), housekeepingMs);
    this.tunneld.start();
    // Never heard from tunneld (it is down, or starts later): probe the
    // planned paths meanwhile; tunneld's list replaces them when it comes.
    this.graceTimer = this.clock.setTimeout(() => this.onTunneldSilent(), this.deps.tunneldGraceMs ?? 5000);
    this.pathRoundTimer = this.startPathRound();
  }

  /**
   * Every second. Path addresses whose interface was missing get another
   * try: a path's tunnel often appears just after probed starts, and until
   * its address is bound the far end's probes go unanswered and read as
   * loss (a bind of a missing address fails at once). And a DHCP WAN's
   * gateway is read again (gateway.ts).
   */
  private housekeeping(): void {
    this.reflectorServer.setLocals(this.prober.localAddresses());
    this.gatewayTick();
  }

  private onTunneldList(list: TunneldPath[]): void {
    this.tunneldPaths = list;
    this.known = knownPeers(this.plan, list);
    this.applyPaths('tunneld');
  }

  private onTunneldSilent(): void {
    if (this.tunneld.hasListed) return;
    this.log.warn('probed: tunneld has not answered; probing the planned paths');
    this.ctx.health.set('probed.tunneld', 'tunneld has not answered paths.list; probing the planned paths', 'warning');
    this.usePlan = true;
    this.applyPaths('tunneld silent');
  }

  /** Probe tunneld's paths (or the plan's while tunneld has never answered) and bind their local addresses. */
  private applyPaths(why: string): void {
    if (this.tunneld.hasListed) this.usePlan = false;
    const { infos, unknown } = this.usePlan ? { infos: plannedPaths(this.plan), unknown: [] } : pathInfos(this.tunneldPaths, this.plan);
    this.ctx.health.check('probed.paths', unknown.length > 0,
      `tunneld lists paths this config does not plan (not probed): ${unknown.join(', ')}`, 'warning');
    const change = this.prober.setPaths(infos);
    this.reflectorServer.setLocals(this.prober.localAddresses());
    if (change.added.length || change.removed.length || change.replaced.length) this.log.info({ why, ...change }, 'probed: paths changed');
  }

  /** path.metrics every round, at probes.pathRatePerSec. */
  private startPathRound(): TimerHandle {
    return this.clock.setInterval(() => {
      if (this.tunneld.hasListed) this.ctx.health.clear('probed.tunneld');
      for (const m of this.prober.takeRound()) this.bus.publish('path.metrics', m);
    }, 1000 / this.config.probes.pathRatePerSec);
  }

  /** A path's transition: on the bus, in the events table, in the log. */
  private publishPathState(m: PathStateMessage): void {
    this.bus.publish('path.state', m);
    this.writer.event({ ts: m.ts, kind: 'path.state', subject: m.path, detail: { from: m.from, to: m.to, cause: m.cause, reason: m.reason } });
    this.log.info({ path: m.path, from: m.from, to: m.to, reason: m.reason }, 'probed: path state');
  }

  // WANs.

  /** Stop the WANs whose plan changed, then start every WAN that can be probed and is not. */
  private startWans(): void {
    const plans = wanPlans(this.config, this.plan, (w) => this.gateways.gateways(w));
    this.stopChangedWans(plans);
    this.waiting.clear();
    for (const p of plans) {
      if ('waiting' in p) {
        this.waiting.set(p.wan, p.waiting);
        this.ctx.health.set(`probed.wan.${p.wan}`, p.waiting, 'warning');
      } else if (!('settings' in p)) {
        this.ctx.health.set(`probed.wan.${p.wan}`, p.problem, 'warning');
      } else if (!this.wans.has(p.settings.wan)) {
        this.startWan(p);
      }
    }
  }

  private stopChangedWans(plans: WanPlan[]): void {
    for (const [name, w] of this.wans) {
      if (plans.some((p) => 'settings' in p && p.settings.wan === name && JSON.stringify(p) === w.key)) continue;
      this.stopWan(w);
      this.wans.delete(name);
      // A lost lease is no verdict on the link: say the WAN is not known
      // now, rather than leave its last state standing or let probes to a
      // gateway that went away count as loss.
      const wait = plans.find((p): p is WaitingPlan => 'waiting' in p && p.wan === name);
      if (wait && w.monitor.state !== 'unknown') {
        this.publishWanState({ wan: name, from: w.monitor.state, to: 'unknown', cause: 'gateway', reason: wait.waiting, ts: this.clock.now() });
      }
    }
  }

  private startWan(p: ProbeSettingsPlan): void {
    const name = p.settings.wan;
    try {
      this.wans.set(name, this.openWan(p.settings, p.source, JSON.stringify(p)));
      this.ctx.health.clear(`probed.wan.${name}`);
    } catch (err) {
      this.ctx.health.set(`probed.wan.${name}`, `cannot probe WAN ${name}: ${errorMessage(err)}`, 'error');
      this.log.error({ wan: name, err: errorMessage(err) }, 'probed: wan: cannot probe');
    }
  }

  /** A WAN's sockets, monitor and round timer; throws (with nothing left open) when a socket cannot be opened. */
  private openWan(s: WanProbeSettings, src: WanSource, key: string): WanRunner {
    const { transports, opened } = this.openIcmp(s, src);
    const monitor = new WanMonitor({
      settings: s,
      transports,
      clock: this.clock,
      onSample: (x) => this.writer.add(x),
      onTransition: (t) => this.publishWanState({ wan: s.wan, ...(t.target ? { target: t.target } : {}), from: t.from, to: t.to, cause: t.cause, reason: t.reason, ts: t.at }),
    });
    monitor.start();
    const round = this.clock.setInterval(() => {
      const m = monitor.round();
      if (m) this.bus.publish('wan.metrics', m);
    }, 1000 / s.ratePerSec);
    this.log.info({ wan: s.wan, targets: s.targets, ...(this.gateways.gateways(s.wan) ? { targetsFrom: 'dhcp gateway' } : {}), ratePerSec: s.ratePerSec, source: src }, 'probed: wan: probing');
    return { key, monitor, transports: opened, round };
  }

  /** One ICMP socket per family of the WAN's targets, from the WAN's address of that family (else the wildcard). */
  private openIcmp(s: WanProbeSettings, src: WanSource): { transports: Partial<Record<4 | 6, IcmpTransport>>; opened: IcmpTransport[] } {
    const families = new Set(s.targets.map((t) => (t.includes(':') ? 6 : 4) as 4 | 6));
    const transports: Partial<Record<4 | 6, IcmpTransport>> = {};
    const opened: IcmpTransport[] = [];
    try {
      for (const f of families) {
        const own = src.address && (src.address.includes(':') ? 6 : 4) === f ? src.address : f === 6 ? '::' : '0.0.0.0';
        const t = this.icmp({ source: own, mark: src.mark, device: src.device, dscp: src.dscp });
        transports[f] = t;
        opened.push(t);
      }
    } catch (err) {
      for (const t of opened) t.close();
      throw err;
    }
    return { transports, opened };
  }

  private stopWan(w: WanRunner): void {
    this.clock.clearInterval(w.round);
    w.monitor.stop();
    for (const t of w.transports) t.close();
  }

  /** A WAN's or a target's transition: on the bus, in the events table, in the log. */
  private publishWanState(m: WanStateMessage): void {
    this.bus.publish('wan.state', m);
    this.writer.event({ ts: m.ts, kind: 'wan.state', subject: m.target ? `${m.wan}@${m.target}` : m.wan, detail: { from: m.from, to: m.to, cause: m.cause, reason: m.reason } });
    this.log.info({ wan: m.wan, target: m.target, from: m.from, to: m.to, reason: m.reason }, 'probed: wan state');
  }

  // DHCP gateways.

  private async watchGateways(): Promise<void> {
    this.gateways.setWans(dhcpWans(this.config, this.plan));
    await this.gateways.refresh();
    this.routesHealth();
  }

  /** Read the gateways again when due (housekeeping); a change remakes the WANs it touches. */
  private gatewayTick(): void {
    if (!this.gateways.watching || this.gateways.busy || this.clock.monotonic() < this.nextGatewayRead) return;
    const began = this.clock.monotonic();
    void this.gateways.refresh().then((changed) => {
      this.nextGatewayRead = this.clock.monotonic() + gatewayReadSpacing * (this.clock.monotonic() - began);
      if (this.stopped) return;
      this.routesHealth();
      if (changed) this.startWans();
    });
  }

  private routesHealth(): void {
    this.ctx.health.check('probed.routes', this.gateways.problem !== undefined,
      `cannot read the kernel's routes to find DHCP gateways: ${this.gateways.problem ?? ''}`, 'error');
  }

  private dhcpGatewayStatus(): Record<string, unknown> {
    return Object.fromEntries(dhcpWans(this.config, this.plan).map((w) => [w.wan, {
      interface: w.device, gateways: this.gateways.gateways(w.wan) ?? [], ...(this.waiting.has(w.wan) ? { waiting: this.waiting.get(w.wan) } : {}),
    }]));
  }
}

/** tern-probed: the Probed of a context, its bus methods (daemons/lib/api/probed.ts) and the runner's hooks. */
export function probedSpec(deps: ProbedDeps = {}): DaemonSpec {
  return {
    name: 'probed',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const d = new Probed(ctx, deps);
      await d.start();
      // Params checked against daemons/lib/api/probed.ts before these run.
      const bus = contractBus(ctx, probedApi);
      bus.method('paths.metrics', (p) => d.pathMetrics(p?.path));
      bus.method('wans.metrics', (p) => d.wanMetrics(p?.wan));
      bus.method('history.query', (q) => d.historyQuery(q));
      bus.method('history.subjects', () => d.historySubjects());
      bus.method('reflector.stats', () => d.reflectorStats());
      return {
        reload: (config) => d.reload(config),
        status: () => d.status(),
        stop: () => d.stop(),
      };
    },
  };
}
