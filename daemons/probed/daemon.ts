// tern-probed as a daemon: the STAMP reflector on probes.port, a STAMP
// session on every overlay path tunneld lists, ICMP echo to every WAN's
// targets, metrics on the bus every round, state changes at once, history
// and events in the state database.
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
import { probedApi, type ProbedMethods as ProbedApiMethods, type WanStateT } from '../lib/api/index.js';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import { Rtnl, type DhcpWan } from '../lib/kernel/index.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { overlayPlan, type OverlayPlan } from '../lib/overlay/index.js';
import { socketPath } from '../lib/paths/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { GatewayWatcher } from './gateway.js';
import { History } from '../lib/history/index.js';
import { nativeIcmp, type IcmpTransport, type IcmpTransportFactory } from './icmp.js';
import type { PathProbeSettings } from './monitor.js';
import { PathProber, type PathStateMessage } from './paths.js';
import { Reflector } from './reflector.js';
import { canonicalAddress, ReflectorServer, udpPathSockets, type PathSocketFactory } from './transport.js';
import { TunneldWatcher, pathInfos, plannedPaths, type TunneldPath } from './tunnels.js';
import { WanMonitor, type WanProbeSettings } from './wan.js';
import { HistoryWriter } from './writer.js';

export type { PathMetricsMessage, PathStateMessage } from './paths.js';
export type { WanMetrics } from './wan.js';

/** wan.state: a WAN's or one of its targets' transition (daemons/lib/api/probed.ts WanState). */
export type WanStateMessage = WanStateT;

/** What probed's bus offers: declared once in daemons/lib/api/probed.ts. */
export type ProbedMethods = ProbedApiMethods;

/** What a path id pattern of probes.pathClasses matches: each of the three parts, or * for any. */
export function pathMatches(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.split('/');
  return a.length === 3 && b.length === 3 && a.every((x, i) => x === '*' || x === b[i]);
}

/** The settings of one path: its class's rate (the first class listing it), else probes.pathRatePerSec. */
export function pathSettings(cfg: TernConfig, path: string): PathProbeSettings & { pathClass: string | null } {
  const p = cfg.probes;
  const cls = p.pathClasses.find((c) => c.paths.some((pat) => pathMatches(pat, path)));
  return {
    pathRatePerSec: cls?.ratePerSec ?? p.pathRatePerSec,
    windowSec: p.windowSec,
    downAfter: p.downAfter,
    upAfter: p.upAfter,
    degraded: { ...p.degraded },
    pathClass: cls?.name ?? null,
  };
}

/**
 * DSCP of WAN probes unless probes.wans[].dscp says otherwise: EF, as an
 * appliance marks its own probes so they measure the link and not its own
 * shaper. Unmarked, they would wait in qosd's best-effort queues behind the
 * very load whose latency autorate is reading.
 */
export const defaultWanProbeDscp = 46;

/** Where a WAN's probes leave from, and how they are marked. */
export interface WanSource {
  /** The WAN's address without prefix length; undefined for a DHCP WAN. */
  address: string | undefined;
  mark: number;
  device: string;
  /** DSCP of the echo requests (and so of the replies, which Linux and most routers answer with the request's TOS). */
  dscp: number;
}

/** A WAN's configured probe targets: probes.wans[].targets, else probes.wanTargets, else its gateway; [] when none. */
function configuredTargets(cfg: TernConfig, w: TernConfig['wans'][number]): string[] {
  const p = cfg.probes;
  return p.wans.find((o) => o.wan === w.name)?.targets ?? (p.wanTargets.length ? p.wanTargets : w.gateway ? [w.gateway] : []);
}

/** The WANs whose probe target is the gateway DHCP gives them: dhcp: true, and no target configured. */
export function dhcpWans(cfg: TernConfig, plan: OverlayPlan): DhcpWan[] {
  return cfg.wans.flatMap((w) => {
    const wp = plan.wans.find((x) => x.name === w.name);
    return w.dhcp && wp && !configuredTargets(cfg, w).length ? [{ wan: w.name, device: w.interface, table: wp.table }] : [];
  });
}

/** What a DHCP WAN's status says until its gateway is known. */
export function waitingText(device: string): string {
  return `waiting for a DHCP gateway on ${device} (no default route out of it yet)`;
}

/**
 * The probe settings of every WAN, or why a WAN cannot be probed, or, for a
 * DHCP WAN without targets of its own whose gateway is not known yet (not
 * in gateways), that it waits for one.
 */
export function wanPlans(cfg: TernConfig, plan: OverlayPlan, gateways: (wan: string) => readonly string[] | undefined = () => undefined):
  Array<{ settings: WanProbeSettings; source: WanSource } | { wan: string; problem: string } | { wan: string; waiting: string }> {
  const p = cfg.probes;
  return cfg.wans.map((w) => {
    const override = p.wans.find((o) => o.wan === w.name);
    let targets = configuredTargets(cfg, w);
    if (!targets.length && w.dhcp) {
      targets = [...(gateways(w.name) ?? [])];
      if (!targets.length) return { wan: w.name, waiting: waitingText(w.interface) };
    }
    if (!targets.length) return { wan: w.name, problem: `no probe target: set probes.wanTargets or probes.wans[].targets (a DHCP WAN has no configured gateway)` };
    const wp = plan.wans.find((x) => x.name === w.name);
    return {
      settings: {
        wan: w.name,
        targets: [...new Set(targets.map(canonicalAddress))],
        ratePerSec: override?.ratePerSec ?? p.wanRatePerSec,
        windowSec: p.windowSec,
        downAfter: p.downAfter,
        upAfter: p.upAfter,
        degraded: { ...p.degraded },
      },
      source: { address: w.address?.split('/')[0], mark: wp?.mark ?? 0, device: w.interface, dscp: override?.dscp ?? defaultWanProbeDscp },
    };
  });
}

/** Addresses the reflector serves at full rate: the far ends of the planned paths, with their interface. */
export function knownPeers(plan: OverlayPlan, tunneld: TunneldPath[] = []): Set<string> {
  const out = new Set<string>();
  for (const p of plan.paths) out.add(`${canonicalAddress(p.remoteLinkAddress)}%${p.ifname}`);
  for (const t of tunneld) out.add(canonicalAddress(t.probeAddress));
  return out;
}

/** Injectable I/O, for tests; real defaults. */
export interface ProbedDeps {
  pathSockets?: (clock: Clock, logger: Logger) => PathSocketFactory;
  icmp?: () => IcmpTransportFactory;
  /** tunneld's socket; default <runDir>/tunneld.sock. */
  tunneldSocket?: (ctx: DaemonContext) => string;
  /** How long to wait for tunneld before probing the planned paths (default 5000 ms). */
  tunneldGraceMs?: number;
  /**
   * The kernel's routes of these tables (rtnl RouteInfo), where a DHCP
   * WAN's gateway is found; default rtnetlink, opened only when some WAN
   * needs it.
   */
  routes?: (logger: Logger) => { read: (tables: number[]) => Promise<unknown[]>; close(): void };
}

/** The real route reader: one rtnetlink socket, opened on first use. */
function rtnlRoutes(logger: Logger): { read: (tables: number[]) => Promise<unknown[]>; close(): void } {
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

interface WanRunner {
  key: string;
  monitor: WanMonitor;
  transports: IcmpTransport[];
  round: TimerHandle;
}

export function createProbed(deps: ProbedDeps = {}): DaemonSpec {
  return {
    name: 'probed',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const log = componentLogger(ctx.logger, 'probed');
      const clock = ctx.clock;
      const bus = contractBus(ctx, probedApi);
      let cfg = ctx.config;
      let plan = overlayPlan(cfg);
      const store = await ctx.store();
      const history = (c: TernConfig): History => new History(store, { retention: c.probes.history, clock });
      let hist = history(cfg);
      const writer = new HistoryWriter({
        store, history: hist, clock, logger: log,
        onHealth: (problem) => ctx.health.check('probed.history', problem !== undefined, problem ?? '', 'error'),
      });
      writer.start();

      // The reflector: up first, so the far ends' probes are answered even
      // before this box knows its own paths.
      let tunneldPaths: TunneldPath[] = [];
      let known = knownPeers(plan);
      const reflectorClock = clock === systemClock ? fineWallClock : clock;
      const newReflector = (port: number): Reflector => new Reflector({ clock: reflectorClock, isKnownPeer: (a) => known.has(a), port });
      let reflector = newReflector(cfg.probes.port);
      let reflectorServer = new ReflectorServer({ reflector, port: cfg.probes.port, clock: reflectorClock, logger: log });
      await reflectorServer.start();

      // Paths.
      const publishState = (m: PathStateMessage): void => {
        bus.publish('path.state', m);
        writer.event({ ts: m.ts, kind: 'path.state', subject: m.path, detail: { from: m.from, to: m.to, cause: m.cause, reason: m.reason } });
        log.info({ path: m.path, from: m.from, to: m.to, reason: m.reason }, 'probed: path state');
      };
      const prober = new PathProber({
        port: cfg.probes.port,
        sockets: (deps.pathSockets ?? ((c, l) => udpPathSockets({ clock: c, logger: l })))(clock, log),
        settingsFor: (p) => pathSettings(cfg, p),
        clock,
        logger: log,
        onState: publishState,
        onSample: (s) => writer.add(s),
      });
      let usePlan = false;
      const applyPaths = (why: string): void => {
        if (watcher.hasListed) usePlan = false;
        const { infos, unknown } = usePlan ? { infos: plannedPaths(plan), unknown: [] } : pathInfos(tunneldPaths, plan);
        ctx.health.check('probed.paths', unknown.length > 0,
          `tunneld lists paths this config does not plan (not probed): ${unknown.join(', ')}`, 'warning');
        const change = prober.setPaths(infos);
        reflectorServer.setLocals(prober.localAddresses());
        if (change.added.length || change.removed.length || change.replaced.length) log.info({ why, ...change }, 'probed: paths changed');
      };
      // Housekeeping, every second. Path addresses whose interface was
      // missing get another try: a path's tunnel often appears just after
      // probed starts, and until its address is bound the far end's probes
      // go unanswered and read as loss (a bind of a missing address fails at
      // once). And a DHCP WAN's gateway is read again (gateway.ts).
      const localsTimer = clock.setInterval(() => {
        reflectorServer.setLocals(prober.localAddresses());
        gatewayTick();
      }, 1000);
      const watcher = new TunneldWatcher({
        socketPath: deps.tunneldSocket?.(ctx) ?? socketPath(ctx.paths, 'tunneld'),
        clock,
        logger: log,
        onList: (list) => {
          tunneldPaths = list;
          known = knownPeers(plan, list);
          applyPaths('tunneld');
        },
      });
      watcher.start();
      // Never heard from tunneld (it is down, or starts later): probe the
      // planned paths meanwhile; tunneld's list replaces them when it comes.
      const grace = clock.setTimeout(() => {
        if (watcher.hasListed) return;
        log.warn('probed: tunneld has not answered; probing the planned paths');
        ctx.health.set('probed.tunneld', 'tunneld has not answered paths.list; probing the planned paths', 'warning');
        usePlan = true;
        applyPaths('tunneld silent');
      }, deps.tunneldGraceMs ?? 5000);
      const pathRound = (): TimerHandle => clock.setInterval(() => {
        if (watcher.hasListed) ctx.health.clear('probed.tunneld');
        for (const m of prober.takeRound()) bus.publish('path.metrics', m);
      }, 1000 / cfg.probes.pathRatePerSec);
      let pathRoundTimer = pathRound();

      // WANs.
      const icmp = (deps.icmp ?? (() => nativeIcmp()))();
      const wans = new Map<string, WanRunner>();
      let stopped = false;
      const publishWanState = (m: WanStateMessage): void => {
        bus.publish('wan.state', m);
        writer.event({ ts: m.ts, kind: 'wan.state', subject: m.target ? `${m.wan}@${m.target}` : m.wan, detail: { from: m.from, to: m.to, cause: m.cause, reason: m.reason } });
        log.info({ wan: m.wan, target: m.target, from: m.from, to: m.to, reason: m.reason }, 'probed: wan state');
      };
      // DHCP WANs without targets of their own probe their learned gateway.
      let routeReader: ReturnType<NonNullable<ProbedDeps['routes']>> | undefined;
      const gateways = new GatewayWatcher({
        read: (tables) => {
          routeReader ??= (deps.routes ?? rtnlRoutes)(log);
          return routeReader.read(tables);
        },
        logger: log,
      });
      const routesHealth = (): void => ctx.health.check('probed.routes', gateways.problem !== undefined,
        `cannot read the kernel's routes to find DHCP gateways: ${gateways.problem ?? ''}`, 'error');
      /** WANs waiting for their DHCP gateway: name → the status text. */
      const waiting = new Map<string, string>();
      const startWans = (): void => {
        const plans = wanPlans(cfg, plan, (w) => gateways.gateways(w));
        for (const [name, w] of wans) {
          if (plans.some((p) => 'settings' in p && p.settings.wan === name && JSON.stringify(p) === w.key)) continue;
          stopWan(w);
          wans.delete(name);
          // A lost lease is no verdict on the link: say the WAN is not
          // known now, rather than leave its last state standing or let
          // probes to a gateway that went away count as loss.
          const wait = plans.find((p): p is { wan: string; waiting: string } => 'waiting' in p && p.wan === name);
          if (wait && w.monitor.state !== 'unknown') {
            publishWanState({ wan: name, from: w.monitor.state, to: 'unknown', cause: 'gateway', reason: wait.waiting, ts: clock.now() });
          }
        }
        waiting.clear();
        for (const p of plans) {
          if ('waiting' in p) {
            waiting.set(p.wan, p.waiting);
            ctx.health.set(`probed.wan.${p.wan}`, p.waiting, 'warning');
            continue;
          }
          if (!('settings' in p)) {
            ctx.health.set(`probed.wan.${p.wan}`, p.problem, 'warning');
            continue;
          }
          const name = p.settings.wan;
          if (wans.has(name)) continue;
          try {
            wans.set(name, startWan(p.settings, p.source, JSON.stringify(p)));
            ctx.health.clear(`probed.wan.${name}`);
          } catch (err) {
            ctx.health.set(`probed.wan.${name}`, `cannot probe WAN ${name}: ${errorMessage(err)}`, 'error');
            log.error({ wan: name, err: errorMessage(err) }, 'probed: wan: cannot probe');
          }
        }
      };
      const startWan = (s: WanProbeSettings, src: WanSource, key: string): WanRunner => {
        const families = new Set(s.targets.map((t) => (t.includes(':') ? 6 : 4) as 4 | 6));
        const transports: Partial<Record<4 | 6, IcmpTransport>> = {};
        const opened: IcmpTransport[] = [];
        try {
          for (const f of families) {
            const own = src.address && (src.address.includes(':') ? 6 : 4) === f ? src.address : f === 6 ? '::' : '0.0.0.0';
            const t = icmp({ source: own, mark: src.mark, device: src.device, dscp: src.dscp });
            transports[f] = t;
            opened.push(t);
          }
        } catch (err) {
          for (const t of opened) t.close();
          throw err;
        }
        const monitor = new WanMonitor({
          settings: s,
          transports,
          clock,
          onSample: (x) => writer.add(x),
          onTransition: (t) => publishWanState({ wan: s.wan, ...(t.target ? { target: t.target } : {}), from: t.from, to: t.to, cause: t.cause, reason: t.reason, ts: t.at }),
        });
        monitor.start();
        const round = clock.setInterval(() => {
          const m = monitor.round();
          if (m) bus.publish('wan.metrics', m);
        }, 1000 / s.ratePerSec);
        log.info({ wan: s.wan, targets: s.targets, ...(gateways.gateways(s.wan) ? { targetsFrom: 'dhcp gateway' } : {}), ratePerSec: s.ratePerSec, source: src }, 'probed: wan: probing');
        return { key, monitor, transports: opened, round };
      };
      const stopWan = (w: WanRunner): void => {
        clock.clearInterval(w.round);
        w.monitor.stop();
        for (const t of w.transports) t.close();
      };
      const watchGateways = async (): Promise<void> => {
        gateways.setWans(dhcpWans(cfg, plan));
        await gateways.refresh();
        routesHealth();
      };
      // A reading dumps every route and link of the box: ~1.5 ms of CPU
      // with 40 routes, ~40 ms with 3000 routes and 500 links. Readings are
      // spaced so they take at most ~2 % of the time: every second on a
      // small box, every few seconds on a big one.
      let nextGatewayRead = 0;
      const gatewayTick = (): void => {
        if (!gateways.watching || gateways.busy || clock.monotonic() < nextGatewayRead) return;
        const began = clock.monotonic();
        void gateways.refresh().then((changed) => {
          nextGatewayRead = clock.monotonic() + 49 * (clock.monotonic() - began);
          if (stopped) return;
          routesHealth();
          if (changed) startWans();
        });
      };
      // A gateway already there at start is probed at once, not after a tick.
      await watchGateways();
      startWans();

      // Bus methods; their params are checked against daemons/lib/api/probed.ts first.
      bus.method('paths.metrics', (p) => prober.metrics(p?.path));
      bus.method('wans.metrics', (p) => [...wans.values()].map((w) => w.monitor.metrics()).filter((m) => p?.wan === undefined || m.wan === p.wan));
      bus.method('history.query', async (q) => {
        // What is queued is not in the database yet: write it first, so a
        // report includes the last second.
        await writer.flush();
        return hist.query(q);
      });
      bus.method('history.subjects', () => hist.subjects());
      bus.method('reflector.stats', () => ({ ...reflector.counters(), ...reflector.tableSizes(), ...reflectorServer.stats(), knownPeers: known.size }));

      return {
        async reload(next: TernConfig): Promise<void> {
          const nextPlan = overlayPlan(next);
          if (next.probes.port !== cfg.probes.port) {
            // Bind the new port before letting go of the old one: a port in
            // use refuses the reload and the old reflector keeps answering.
            const nextReflector = newReflector(next.probes.port);
            const r = new ReflectorServer({ reflector: nextReflector, port: next.probes.port, clock: reflectorClock, logger: log });
            await r.start();
            await reflectorServer.close();
            reflector = nextReflector;
            reflectorServer = r;
            r.setLocals(prober.localAddresses());
          }
          const rateChanged = next.probes.pathRatePerSec !== cfg.probes.pathRatePerSec;
          cfg = next;
          plan = nextPlan;
          known = knownPeers(plan, tunneldPaths);
          hist = history(cfg);
          writer.setHistory(hist);
          prober.setPort(cfg.probes.port);
          prober.refreshSettings();
          applyPaths('reload');
          if (rateChanged) {
            clock.clearInterval(pathRoundTimer);
            pathRoundTimer = pathRound();
          }
          await watchGateways();
          startWans();
        },
        status: () => ({
          paths: prober.summary(),
          wans: Object.fromEntries([...[...wans].map(([n, w]) => [n, w.monitor.state]), ...[...waiting.keys()].map((n) => [n, 'waiting'])]),
          ...(gateways.watching ? {
            dhcpGateways: Object.fromEntries(dhcpWans(cfg, plan).map((w) => [w.wan, { interface: w.device, gateways: gateways.gateways(w.wan) ?? [], ...(waiting.has(w.wan) ? { waiting: waiting.get(w.wan) } : {}) }])),
          } : {}),
          reflector: { ...reflector.counters(), listening: reflectorServer.stats().listening },
          tunneld: { connected: watcher.connected, listed: watcher.hasListed, paths: tunneldPaths.length },
          history: writer.getStats(),
        }),
        async stop(): Promise<void> {
          clock.clearTimeout(grace);
          clock.clearInterval(localsTimer);
          clock.clearInterval(pathRoundTimer);
          stopped = true;
          for (const w of wans.values()) stopWan(w);
          wans.clear();
          // Let a reading under way finish before its socket closes.
          gateways.setWans([]);
          await gateways.refresh();
          routeReader?.close();
          prober.stop();
          await watcher.stop();
          await reflectorServer.close();
          await writer.stop();
        },
      };
    },
  };
}

export const spec: DaemonSpec = createProbed();

