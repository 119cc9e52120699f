// tern-steerd: puts every flow to a remote site on the overlay path its app
// class needs. It owns the path rules (fwmark → path table), steerd's part
// of nftables `inet tern` (mark restore, queue, mark save), the NFQUEUE
// workers with one selector per remote site, and the conntrack marks it
// rewrites when a path goes down or breaks a class's SLA. Facts come from
// tunneld (tunnel state) and probed (metrics); counters and flows go out on
// the bus. See README.md for the packet path.
import fs from 'node:fs';
import { BusClient } from '../lib/bus/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { loadConfig } from '../lib/config/index.js';
import { TernError, errorMessage, isTernError } from '../lib/errors.js';
import { recordEvent } from '../lib/events/index.js';
import { Rtnl, type Family } from '../lib/kernel/index.js';
import { domainSetName, internetMarkBase, queueBase, queueCount } from '../lib/kernel/names.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { socketPath } from '../lib/paths/index.js';
import {
  probedApi, steerdApi, tunneldApi, type PathMetricsT, type PathStateT, type PathTunnelT, type ProbedMethods, type ProbedTopics, type SteerCountersT,
  type TunneldMethods, type TunneldTopics, type WanMetricsT, type WanStateT,
} from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { NativeFastPath, type CtClearReport, type CtFlow, type FastPath } from './fastpath.js';
import { domainHints } from './policy.js';
import { internetUsage, type InternetClear, type InternetView } from './internet.js';
import { MoveLog, type MoveReason, type PathMove } from './events.js';
import { topFlows, type FlowRow } from './flows.js';
import { IptablesQueue } from './iptables.js';
import { Nft, detectNftQueue, pathMarkMask, pathMarkValue, type QueueMethod } from './nft.js';
import { reconcileRules, type RuleKernel } from './rules.js';
import {
  internetInputs, internetPlan, ownPrefixes, pairInterfaces, probeView, siteInputs, sitePlans, steerPolicy, wanProbeView,
  type ProbeView, type SitePlan, type SteerPath, type TunnelState,
} from './sites.js';
import type { Move, PathInput, PathSelector, SelectorPolicy } from './types.js';
import { makeFlow } from './wire.js';

// NFQUEUE numbers of the workers (lib/kernel/names.ts): queueCount workers,
// one thread and queue each; the kernel spreads flows over them by hash.
export { queueBase, queueCount };
/** Packets a queue may hold before the kernel lets further ones through unsteered. */
export const queueMaxLen = 4096;
/** How often idle flows are forgotten and counters published. */
const housekeepingMs = 10_000;
/** How often tunneld's path list is read again (its paths.changed carries transitions). */
const tunnelPollMs = 5_000;
/** Internet paths' marks: internetMark(i) = internetMarkBase + i, i < 16 WANs, so this mask picks them all out. */
const internetMarkMask = 0xffff0000;
/**
 * A flow chosen to leave a metered WAN after failback gets this mark (+ the
 * WAN's index) for the instant between marking it by tuple and clearing
 * the mark: in Tern's range, neither a path mark nor a restore-chain bit.
 */
const clearingMarkBase = 0x00400000;
/** Most flows a failback looks at per metered WAN. */
const maxFailbackFlows = 1_000_000;
/** Clears kept for steer.internet, newest last. */
const keptClears = 20;

/** Kernel-side helpers steerd needs; tests pass fakes. */
export interface SteerdDeps {
  fastPath?: FastPath;
  rules?: RuleKernel & { close?(): void };
  nft?: Pick<Nft, 'apply' | 'remove'> & Partial<Pick<Nft, 'setElements'>>;
  iptables?: Pick<IptablesQueue, 'apply' | 'remove' | 'present'>;
  /** Whether the kernel has the nft queue expression (default: detectNftQueue). */
  detectQueue?: () => Promise<boolean>;
  /** A bus client to another daemon (default: a reconnecting BusClient on its socket). */
  connect?: (daemon: string) => BusClient;
  /** Turns conntrack accounting on, for per-flow counters (default: the sysctl file). */
  enableAccounting?: () => void;
  /** Least time between two path.move events of one path, ms (default 60 s). */
  moveEventIntervalMs?: number;
}

/** A WAN back up, kept out of new-flow choice until `until` (clock.monotonic). */
interface Hold {
  until: number;
  timer: ReturnType<DaemonContext['clock']['setTimeout']>;
}

interface Site {
  plan: SitePlan;
  selector: PathSelector;
  inputs: PathInput[];
}

/** A path's name, site and state as steer.paths reports it. */
export interface PathRow extends PathInput {
  name: string;
  site: string;
  table: number;
  tunnel: TunnelState | null;
  probe: ProbeView | null;
  /** Internet paths: seconds left of the failback hold (0: none). */
  holdSec?: number;
}

function enableConntrackAccounting(): void {
  // Per network namespace; without it conntrack keeps no per-flow counters
  // and steer.flows can only list flows, not rank them.
  fs.writeFileSync('/proc/sys/net/netfilter/nf_conntrack_acct', '1\n');
}

/** The steering state of one running steerd. */
export class Steerd {
  private readonly ctx: DaemonContext;
  private readonly log: Logger;
  private readonly fast: FastPath;
  private readonly rules: RuleKernel & { close?(): void };
  private readonly nft: Pick<Nft, 'apply' | 'remove'> & Partial<Pick<Nft, 'setElements'>>;
  private readonly ipt: Pick<IptablesQueue, 'apply' | 'remove' | 'present'>;
  private readonly deps: SteerdDeps;
  private config: TernConfig;
  private policy: SelectorPolicy;
  private sites: Site[] = [];
  /** The internet destination (a path per WAN), when internet.enabled; its selector routes last. */
  private internet: Site | undefined;
  /** probed's verdict and figures per WAN (wans.metrics, wan.metrics, wan.state). */
  private readonly wans = new Map<string, ProbeView>();
  /** Per WAN: whether the last refresh saw it down (absent: no verdict seen yet, so no transition). */
  private readonly wanDown = new Map<string, boolean>();
  private readonly holds = new Map<string, Hold>();
  private readonly clears: InternetClear[] = [];
  private method: QueueMethod = 'iptables';
  private accountingOn = false;
  private readonly tunnels = new Map<string, TunnelState>();
  private tunnelsKnown = false;
  private readonly probes = new Map<string, ProbeView>();
  /** Per path mark: the classes its state keeps away (for sweeps on growth). */
  private broken = new Map<number, Set<string>>();
  private readonly clients: BusClient[] = [];
  private tunneld: BusClient<TunneldMethods, TunneldTopics> | undefined;
  private timers: ReturnType<DaemonContext['clock']['setInterval']>[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly moveLog: MoveLog;
  readonly totals = { moves: 0, markUpdates: 0, markMissing: 0, sweeps: 0, swept: 0, refreshes: 0, refreshErrors: 0, clears: 0, cleared: 0 };

  constructor(ctx: DaemonContext, deps: SteerdDeps = {}) {
    this.ctx = ctx;
    this.deps = deps;
    this.log = componentLogger(ctx.logger, 'steerd');
    this.fast = deps.fastPath ?? new NativeFastPath();
    this.rules = deps.rules ?? new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') });
    this.nft = deps.nft ?? new Nft();
    this.ipt = deps.iptables ?? new IptablesQueue();
    this.config = ctx.config;
    this.policy = steerPolicy(ctx.config);
    this.moveLog = new MoveLog({
      clock: ctx.clock,
      logger: this.log,
      ...(deps.moveEventIntervalMs !== undefined ? { intervalMs: deps.moveEventIntervalMs } : {}),
      write: async (row) => {
        const store = await ctx.store();
        await recordEvent(store, row);
      },
    });
  }

  /** Queues first (so the first packets are decided), then selectors, then rules. */
  async start(): Promise<void> {
    this.turnOnAccounting();
    this.method = (await (this.deps.detectQueue ?? detectNftQueue)()) ? 'nft' : 'iptables';
    this.fast.open(queueBase, queueCount, queueMaxLen);
    this.buildSites();
    await this.installRules();
    this.connectPeers();
    const housekeeping = this.ctx.clock.setInterval(() => this.housekeeping(), housekeepingMs);
    const poll = this.ctx.clock.setInterval(() => { void this.pollTunnels(); }, tunnelPollMs);
    this.timers.push(housekeeping, poll);
    this.log.info({ method: this.method, sites: this.sites.map((s) => s.plan.site), queues: [queueBase, queueBase + queueCount - 1] }, 'steerd: steering');
  }

  /** One selector per site, routed by its prefixes; paths as known now. */
  private buildSites(): void {
    for (const s of this.sites) this.fast.route(s.selector, []);
    this.sites = sitePlans(this.config).map((plan) => {
      const selector = this.fast.createSelector(this.policy);
      const inputs = siteInputs(this.config, plan, this.tunnelView(), this.probes);
      selector.setPaths(inputs);
      this.fast.route(selector, plan.prefixes);
      return { plan, selector, inputs };
    });
    // The internet last: the workers take the first route containing the
    // destination, so every site's prefixes win over 0.0.0.0/0 and ::/0.
    if (this.internet) this.fast.route(this.internet.selector, []);
    const plan = internetPlan(this.config);
    this.internet = undefined;
    if (plan) {
      const selector = this.fast.createSelector(this.policy);
      const inputs = internetInputs(this.config, plan, this.wans, new Set(this.holds.keys()));
      selector.setPaths(inputs);
      this.fast.route(selector, plan.prefixes);
      this.internet = { plan, selector, inputs };
    }
  }

  /** Tunnel states; before tunneld has answered once, every path counts as up (a restart must not sweep). */
  private tunnelView(): ReadonlyMap<string, TunnelState> {
    if (this.tunnelsKnown) return this.tunnels;
    return new Map(sitePlans(this.config).flatMap((s) => s.paths).map((p) => [p.name, 'up' as const]));
  }

  private async installRules(): Promise<void> {
    const inet = internetPlan(this.config);
    const paths = [...sitePlans(this.config).flatMap((s) => s.paths), ...(inet?.paths ?? [])];
    const prefixes = sitePlans(this.config).flatMap((s) => s.prefixes);
    const families: Family[] = inet || prefixes.some((p) => p.includes(':')) ? [4, 6] : [4];
    const hints = domainHints(this.config);
    const domainClasses = inet
      ? [...hints].map(([appClass, hint]) => ({ appClass, hint, set4: domainSetName(appClass, 4), set6: domainSetName(appClass, 6) }))
      : [];
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${errorMessage(err)}`);
      }
    };
    await attempt('ip rules', async () => {
      const r = await reconcileRules(this.rules, paths.map((p) => ({ mark: p.mark, table: p.table })), families);
      if (r.added || r.removed) this.log.info(r, 'steerd: path rules reconciled');
    });
    await attempt('nft', async () => {
      const pair = pairInterfaces(this.config);
      const changed = await this.nft.apply({
        lanInterface: this.config.lan.interface, pairInterfaces: pair, prefixes, queues: [queueBase, queueBase + queueCount - 1], method: this.method,
        ...(inet ? { internet: { own: ownPrefixes(this.config) } } : {}),
        domainClasses,
        domainTimeoutSec: this.config.lan.dns?.maxSetTtlSec ?? 3600,
      });
      this.log.info({ changed, method: this.method, interfaces: [this.config.lan.interface, ...pair] }, changed ? 'steerd: nft rules loaded' : 'steerd: nft rules adopted');
    });
    await attempt('iptables', async () => {
      if (this.method === 'iptables') await this.ipt.apply([queueBase, queueBase + queueCount - 1]);
      else if (await this.ipt.present()) await this.ipt.remove();
    });
    this.ctx.health.check('steerd.rules', problems.length > 0, problems.join('; '), 'error');
    if (problems.length) this.log.error({ problems }, 'steerd: rules: not all in place; unsteered traffic follows the main table');
  }

  private connectPeers(): void {
    const connect = this.deps.connect ?? ((daemon: string) => new BusClient({
      contract: daemon === 'probed' ? probedApi : tunneldApi,
      socketPath: socketPath(this.ctx.paths, daemon),
      clock: this.ctx.clock,
      logger: componentLogger(this.ctx.logger, `bus-${daemon}`),
      timeoutMs: 3000,
      reconnect: { initialMs: 200, maxMs: 2000 },
    }));
    // Results and payloads are checked against each daemon's contract on arrival (daemons/lib/api):
    // one shape, and a message that does not match is refused whole, never half read.
    const tunneld = connect('tunneld') as unknown as BusClient<TunneldMethods, TunneldTopics>;
    const probed = connect('probed') as unknown as BusClient<ProbedMethods, ProbedTopics>;
    this.clients.push(tunneld, probed);
    tunneld.on('connected', () => { void this.pollTunnels(); });
    probed.on('connected', () => { void this.pollProbes(probed); });
    void tunneld.subscribeTopic('paths.changed', (p) => this.onTunnel(p)).catch((err: unknown) => this.log.debug({ err: errorMessage(err) }, 'steerd: tunneld: subscribe'));
    void probed.subscribeTopic('path.metrics', (m) => this.onMetrics(m)).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'steerd: probed: subscribe path.metrics'));
    void probed.subscribeTopic('path.state', (s) => this.onState(s)).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'steerd: probed: subscribe path.state'));
    // The internet paths' health is the WANs' (probed's WAN targets), not path probes.
    void probed.subscribeTopic('wan.metrics', (m) => this.onWanMetrics(m)).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'steerd: probed: subscribe wan.metrics'));
    void probed.subscribeTopic('wan.state', (s) => this.onWanState(s)).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'steerd: probed: subscribe wan.state'));
    tunneld.connect().catch(() => undefined);
    probed.connect().catch(() => undefined);
    this.tunneld = tunneld;
  }

  private async pollTunnels(): Promise<void> {
    if (!this.tunneld || this.stopped) return;
    try {
      const rows = await this.tunneld.call('paths.list');
      let changed = !this.tunnelsKnown;
      for (const r of rows) changed = this.setTunnel(r) || changed;
      this.tunnelsKnown = true;
      if (changed) await this.refresh('tunneld paths.list');
    } catch (err) {
      // Unreachable is routine (tunneld restarting); a refused answer is a version mismatch worth seeing.
      if (isTernError(err, 'TERN_E_BUS_CONTRACT')) this.log.warn({ err: errorMessage(err) }, 'steerd: tunneld: paths.list refused: tunnel states kept as they were');
      else this.log.debug({ err: errorMessage(err) }, 'steerd: tunneld: paths.list');
    }
  }

  private setTunnel(r: PathTunnelT): boolean {
    const before = this.tunnels.get(r.name);
    this.tunnels.set(r.name, r.state);
    return before !== r.state;
  }

  private onTunnel(params: PathTunnelT): void {
    if (this.setTunnel(params) && this.tunnelsKnown) void this.refresh('tunneld paths.changed');
  }

  private async pollProbes(probed: BusClient<ProbedMethods, ProbedTopics>): Promise<void> {
    try {
      // Every entry is a path.metrics payload (the client checks the result against the contract).
      const list = await probed.call('paths.metrics');
      let changed = false;
      for (const m of list) changed = this.setProbe(m.path, probeView(m)) || changed;
      if (changed) await this.refresh('probed paths.metrics');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'steerd: probed: paths.metrics');
    }
    try {
      const list = await probed.call('wans.metrics');
      let changed = false;
      for (const m of list) changed = this.setWan(m.wan, wanProbeView(m)) || changed;
      if (changed) await this.refresh('probed wans.metrics');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'steerd: probed: wans.metrics');
    }
  }

  /** A WAN's probe view; true when it changed. Only this box's WANs are kept. */
  private setWan(wan: string, view: ProbeView): boolean {
    if (!this.config.wans.some((w) => w.name === wan)) return false;
    const before = this.wans.get(wan);
    this.wans.set(wan, view);
    return JSON.stringify(before) !== JSON.stringify(view);
  }

  private onWanMetrics(m: WanMetricsT): void {
    if (this.setWan(m.wan, wanProbeView(m))) void this.refresh('probed wan.metrics');
  }

  /** The WAN's own transition at once (a target's own transition is not the WAN's verdict). */
  private onWanState(s: WanStateT): void {
    if (s.target !== undefined) return;
    const last = this.wans.get(s.wan);
    const view: ProbeView = { state: s.to, lossPct: last?.lossPct ?? null, rttMs: last?.rttMs ?? null, jitterMs: last?.jitterMs ?? null, mos: last?.mos ?? null };
    if (this.setWan(s.wan, view)) void this.refresh('probed wan.state');
  }

  /** A path's probe view; true when it changed. */
  private setProbe(path: string, view: ProbeView): boolean {
    const before = this.probes.get(path);
    this.probes.set(path, view);
    return JSON.stringify(before) !== JSON.stringify(view);
  }

  private onMetrics(m: PathMetricsT): void {
    if (this.setProbe(m.path, probeView(m))) void this.refresh('probed path.metrics');
  }

  /** A transition, at once: the new verdict with the figures of the last path.metrics (the next round brings new ones). */
  private onState(s: PathStateT): void {
    const last = this.probes.get(s.path);
    const view: ProbeView = { state: s.to, lossPct: last?.lossPct ?? null, rttMs: last?.rttMs ?? null, jitterMs: last?.jitterMs ?? null, mos: last?.mos ?? null };
    if (this.setProbe(s.path, view)) void this.refresh('probed path.state');
  }

  /**
   * New path states and metrics: every site's selector gets them, flows on
   * paths that went down or broke their class's SLA are moved (their
   * conntrack marks rewritten), and a path whose set of failed classes
   * grew is swept so flows the selector never saw are decided again — all
   * in one call into the fast path, which also judges every SLA.
   */
  refresh(why: string): Promise<void> {
    const next = this.chain.then(() => {
      if (this.stopped) return;
      this.totals.refreshes++;
      const tunnels = this.tunnelView();
      for (const s of this.sites) s.inputs = siteInputs(this.config, s.plan, tunnels, this.probes);
      const r = this.fast.refresh(this.sites.map((s) => s.selector), {
        paths: this.sites.map((s) => s.inputs),
        broken: [...this.broken].map(([id, classes]) => [id, [...classes]]),
        // Sweeps wait for tunneld's answer, so a restart never sweeps on missing facts.
        sweep: this.tunnelsKnown,
      });
      this.broken = new Map(r.broken.map((b) => [b.id, new Set(b.classes)]));
      const moves = r.moves;
      if (moves.length) {
        if (!r.marks) throw new TernError('TERN_E_NATIVE_IO', r.error ?? 'steerd: refresh: conntrack marks of moved flows not written');
        this.totals.moves += moves.length;
        this.totals.markUpdates += r.marks.updated;
        this.totals.markMissing += r.marks.missing;
        this.log.info({ why, moves: moves.length, ...r.marks }, 'steerd: flows moved');
        this.ctx.bus.publish('steer.moved', { why, moves: moves.map((m) => ({ ...m, fromPath: this.pathName(m.from), toPath: this.pathName(m.to) })).slice(0, 100), total: moves.length, marks: r.marks });
      }
      const swept = new Map<number, { updated: number; classes: string[] }>();
      for (const w of r.sweeps) {
        if (!w.matched) continue;
        this.totals.sweeps++;
        this.totals.swept += w.updated;
        swept.set(w.id, { updated: w.updated, classes: w.classes });
        this.log.info({ why, path: this.pathName(w.id), classes: w.failed, matched: w.matched, updated: w.updated }, 'steerd: path swept: flows of the classes it fails are decided again at their next packet');
      }
      // The internet first: its failover must not wait on a site's conntrack error.
      this.refreshInternet(why);
      if (r.error) throw new TernError('TERN_E_NATIVE_IO', r.error);
      for (const m of this.pathMoves(why, moves, swept)) this.moveLog.record(m);
    });
    this.chain = next.catch((err: unknown) => {
      this.totals.refreshErrors++;
      this.log.error({ why, err: errorMessage(err) }, 'steerd: refresh failed');
    });
    return this.chain.then(() => undefined);
  }

  /**
   * The internet paths from the WANs' verdicts. Not through steerRefresh:
   * a NATed flow cannot be re-marked onto another WAN (its source address
   * would change), so nothing resteers or sweeps them. A WAN that went down
   * (internet.clearOnDown) has its flows cleared, their TCP clients
   * provoked into a reset; one back up is held out of new-flow choice for
   * failback.holdSec, then flows on metered WANs that their policy would now
   * put elsewhere are cleared (failback.moveMetered). SLA breaks and
   * degraded verdicts move only new flows.
   */
  private refreshInternet(why: string): void {
    const inet = this.internet;
    if (!inet) return;
    const transitions: Array<{ path: SteerPath; to: 'down' | 'back' }> = [];
    for (const p of inet.plan.paths) {
      const down = this.wans.get(p.localWan)?.state === 'down';
      const was = this.wanDown.get(p.localWan);
      this.wanDown.set(p.localWan, down);
      // A first verdict of up is no transition (nothing to hold after a
      // restart); a first verdict of down clears, as the flows a restart
      // found on a dead WAN are as stranded as any.
      if (was === down || (was === undefined && !down)) continue;
      transitions.push({ path: p, to: down ? 'down' : 'back' });
      if (down) this.endHold(p.localWan);
      else if (this.config.internet.failback.holdSec > 0) this.startHold(p, why);
    }
    inet.inputs = internetInputs(this.config, inet.plan, this.wans, new Set(this.holds.keys()));
    inet.selector.setPaths(inet.inputs);
    // Cleared after the selector knows: the provoked clients' answers are new flows, decided onto the other WANs.
    for (const t of transitions) {
      if (t.to === 'down' && this.config.internet.clearOnDown) this.clearPath(t.path, 'down', why, this.fast.clear(t.path.mark, 0xffffffff, true));
      if (t.to === 'back' && this.config.internet.failback.holdSec === 0) this.failback(t.path.localWan, why);
    }
  }

  private startHold(p: SteerPath, why: string): void {
    this.endHold(p.localWan);
    const ms = this.config.internet.failback.holdSec * 1000;
    const timer = this.ctx.clock.setTimeout(() => {
      this.holds.delete(p.localWan);
      // The domain sets first (a command): a domain class's flows are judged as that class.
      void this.domainMembers().then((hints) => this.serial(() => {
        this.refreshInternet('failback hold ended');
        this.failback(p.localWan, 'failback hold ended', hints);
      }));
    }, ms);
    this.holds.set(p.localWan, { until: this.ctx.clock.monotonic() + ms, timer });
    this.log.info({ wan: p.localWan, path: p.name, holdSec: ms / 1000, why }, 'steerd: internet: WAN back up; held out of new flows for the failback hold');
  }

  private endHold(wan: string): void {
    const h = this.holds.get(wan);
    if (!h) return;
    this.ctx.clock.clearTimeout(h.timer);
    this.holds.delete(wan);
  }

  /**
   * After a WAN's hold (failback.moveMetered): every flow on a metered WAN's
   * internet path that the class's policy, asked afresh with today's paths,
   * would put on another WAN is cleared and its client provoked, so it
   * reconnects through the recovered WAN. Flows on unmetered WANs stay.
   */
  private failback(wan: string, why: string, hints: ReadonlyMap<string, number> = new Map()): void {
    const inet = this.internet;
    if (!inet || !this.config.internet.failback.moveMetered) return;
    const metered = inet.plan.paths.filter((p) => p.localWan !== wan && this.config.wans.find((w) => w.name === p.localWan)?.metered);
    if (metered.length === 0) return;
    // A fresh selector with the same policy and paths: what a new flow would get now.
    const judge = this.fast.createSelector(this.policy);
    judge.setPaths(inet.inputs);
    const now = this.fast.now();
    const judged = metered.map((p) => {
      const flows = this.fast.flows(p.mark, 0xffffffff, maxFailbackFlows);
      const leaving = flows.filter((f) => {
        const flow = makeFlow({ src: f.src, dst: f.dst, protocol: f.protocol, srcPort: f.srcPort, dstPort: f.dstPort });
        const d = judge.decide({ ...flow, domainHint: hints.get(f.dst) ?? 0 }, now);
        return d.pathId !== 0 && d.pathId !== p.mark;
      });
      return { p, flows, leaving };
    });
    if (judged.every((j) => j.leaving.length === 0)) return;
    // The selector forgets its flows first: it keeps a flow on its path while
    // that path is up, so a cleared flow's next packet (the provoked
    // client's answer) would go back out the metered WAN, NATed as before,
    // and the server would carry on. A fresh selector decides it as new:
    // out the recovered WAN, where the server resets it. Routed before the
    // old one leaves, so no packet finds no internet route.
    const fresh = this.fast.createSelector(this.policy);
    fresh.setPaths(inet.inputs);
    this.fast.route(fresh, inet.plan.prefixes);
    this.fast.route(inet.selector, []);
    inet.selector = fresh;
    for (const { p, flows, leaving } of judged) {
      if (leaving.length === 0) continue;
      let report: CtClearReport;
      if (leaving.length === flows.length) {
        report = this.fast.clear(p.mark, 0xffffffff, true);
      } else {
        // Only some flows leave: they get a mark of their own by tuple, then that mark is cleared.
        const clearing = clearingMarkBase + (p.mark - internetMarkBase);
        const marked = this.fast.setMarks(leaving.map((f) => ({ flow: f, class: '', from: p.mark, to: clearing })));
        report = this.fast.clear(clearing, 0xffffffff, true);
        if (marked.failed) report = { ...report, errors: report.errors + marked.failed };
      }
      this.clearPath(p, 'failback', why, report, leaving.length);
    }
  }

  /** Logs, keeps and records (events table, kind path.clear) one clear. */
  private clearPath(p: SteerPath, reason: InternetClear['reason'], why: string, r: CtClearReport, chosen?: number): void {
    const entry: InternetClear = { wan: p.localWan, path: p.name, reason, why, at: this.ctx.clock.now(), ...(chosen !== undefined ? { chosen } : {}), ...r };
    this.clears.push(entry);
    if (this.clears.length > keptClears) this.clears.shift();
    this.totals.clears++;
    this.totals.cleared += r.deleted;
    const line = reason === 'down'
      ? 'steerd: internet: WAN down: its NATed flows cleared, TCP clients provoked into a reset'
      : 'steerd: internet: failback: flows on a metered WAN cleared so they reconnect through the recovered WAN';
    if (r.error) this.log.error({ ...entry }, `${line} (with errors)`);
    else this.log.info({ ...entry }, line);
    void (async () => {
      try {
        const store = await this.ctx.store();
        await recordEvent(store, { ts: entry.at, daemon: 'steerd', kind: 'path.clear', subject: p.name, detail: { ...entry } });
      } catch (err) {
        this.log.warn({ err: errorMessage(err), path: p.name }, 'steerd: internet: clear not recorded in the events table');
      }
    })();
  }

  /** Runs fn after every refresh queued so far, as refresh does. */
  private serial(fn: () => void): Promise<void> {
    const next = this.chain.then(() => { if (!this.stopped) fn(); });
    this.chain = next.catch((err: unknown) => {
      this.totals.refreshErrors++;
      this.log.error({ err: errorMessage(err) }, 'steerd: internet: failback failed');
    });
    return this.chain.then(() => undefined);
  }

  /**
   * One record per path that flows left in this decision: where they went,
   * how many, and why — from the path's state as the selectors now see it.
   */
  private pathMoves(why: string, moves: readonly Move[], swept: ReadonlyMap<number, { updated: number; classes: string[] }>): PathMove[] {
    const by = new Map<number, PathMove & { to: Record<string, number>; classes: string[] }>();
    const entry = (mark: number): PathMove & { to: Record<string, number>; classes: string[] } => {
      let e = by.get(mark);
      if (!e) {
        const site = this.sites.find((s) => s.plan.paths.some((p) => p.mark === mark));
        const input = site?.inputs.find((i) => i.id === mark);
        let reason: MoveReason = 'removed';
        if (input) reason = input.state === 'down' ? 'down' : input.state === 'degraded' ? 'degraded' : 'sla';
        e = { site: site?.plan.site ?? '', from: this.pathName(mark), to: {}, reason, classes: [], flows: 0, swept: 0, why };
        by.set(mark, e);
      }
      return e;
    };
    for (const m of moves) {
      const e = entry(m.from);
      const to = this.pathName(m.to);
      e.to[to] = (e.to[to] ?? 0) + 1;
      e.flows++;
      if (!e.classes.includes(m.class)) e.classes.push(m.class);
    }
    for (const [mark, r] of swept) {
      if (r.updated === 0) continue;
      const e = entry(mark);
      e.swept += r.updated;
      for (const c of r.classes) if (!e.classes.includes(c)) e.classes.push(c);
    }
    return [...by.values()];
  }

  /**
   * Conntrack's per-flow counters, tried at start and then every
   * housekeeping round until on: at boot the conntrack module may load only
   * with the first ruleset that uses it (its sysctl is missing until then).
   */
  private turnOnAccounting(): void {
    if (this.accountingOn) return;
    try {
      (this.deps.enableAccounting ?? enableConntrackAccounting)();
      this.accountingOn = true;
      this.ctx.health.check('steerd.accounting', false, '');
    } catch (err) {
      this.ctx.health.set('steerd.accounting', `conntrack accounting could not be turned on: ${errorMessage(err)}; steer.flows lists flows without counters (retried every ${housekeepingMs / 1000} s)`, 'warning');
    }
  }

  private housekeeping(): void {
    this.turnOnAccounting();
    const now = this.fast.now();
    for (const s of this.allSites()) s.selector.expire(now);
    this.ctx.bus.publish('steer.counters', this.counters());
  }

  /** The sites' selectors, then the internet's. */
  private allSites(): Site[] {
    return this.internet ? [...this.sites, this.internet] : this.sites;
  }

  pathName(mark: number): string {
    for (const s of this.allSites()) for (const p of s.plan.paths) if (p.mark === mark) return p.name;
    return mark === 0 ? 'main' : `mark 0x${mark.toString(16)}`;
  }

  /** steer.counters: queues, and per site its selector's counters with path names. */
  counters(): SteerCountersT {
    return {
      method: this.method,
      queues: this.fast.stats(),
      totals: { ...this.totals },
      moveEvents: { ...this.moveLog.counters },
      sites: this.allSites().map((s) => {
        const st = s.selector.stats();
        return {
          site: s.plan.site,
          ...st,
          paths: st.paths.map((p) => ({ ...p, name: this.pathName(p.id), state: s.inputs.find((i) => i.id === p.id)?.state ?? null })),
        };
      }),
    };
  }

  /** steer.paths: every path as the selectors see it. */
  paths(): PathRow[] {
    const now = this.ctx.clock.monotonic();
    return this.allSites().flatMap((s) => s.plan.paths.map((p) => {
      const input = s.inputs.find((i) => i.id === p.mark)!;
      if (s === this.internet) {
        // An internet path has no tunnel; its probe view is its WAN's.
        const hold = this.holds.get(p.localWan);
        return { ...input, name: p.name, site: p.site, table: p.table, tunnel: null, probe: this.wans.get(p.localWan) ?? null, holdSec: hold ? Math.max(0, (hold.until - now) / 1000) : 0 };
      }
      return { ...input, name: p.name, site: p.site, table: p.table, tunnel: this.tunnels.get(p.name) ?? null, probe: this.probes.get(p.name) ?? null };
    }));
  }

  /** steer.internet: each WAN's internet path, its flows and bytes per app class, NATed flows, the last clears. */
  async internetView(): Promise<InternetView> {
    const inet = this.internet;
    if (!inet) return { enabled: false, paths: [], classes: [], clears: [...this.clears] };
    const hints = await this.domainMembers();
    const flows = this.fast.flows(internetMarkBase, internetMarkMask, 1_000_000);
    const rows = this.paths().filter((p) => p.site === inet.plan.site);
    const natted = (wan: string): boolean => this.config.wans.find((w) => w.name === wan)?.nat !== 'off';
    return internetUsage(inet.plan, rows, flows, this.policy, [...this.clears], (dst) => hints.get(dst) ?? 0, natted);
  }

  /**
   * Destination address → the domain hint of the first class whose sets
   * hold it: a domain class is told apart only by what the DNS learned.
   */
  private async domainMembers(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.nft.setElements) return out;
    for (const [appClass, hint] of domainHints(this.config)) {
      for (const family of [4, 6] as const) {
        try {
          for (const a of await this.nft.setElements(domainSetName(appClass, family))) if (!out.has(a)) out.set(a, hint);
        } catch (err) {
          this.log.debug({ err: errorMessage(err), appClass }, 'steerd: internet: domain set not read');
        }
      }
    }
    return out;
  }

  /** steer.flows: the steered flows conntrack holds, biggest first. */
  async flows(limit: number): Promise<{ total: number; flows: FlowRow[] }> {
    // Internet paths' marks are path marks too (internetMark): their flows are listed here as well.
    const all: CtFlow[] = this.fast.flows(pathMarkValue, pathMarkMask, 1_000_000);
    // A domain class is told apart by its sets' addresses (none configured: no nft call).
    const hints = domainHints(this.config).size ? await this.domainMembers() : undefined;
    return { total: all.length, flows: topFlows(all, this.policy, (m) => this.pathName(m), limit, hints && ((dst) => hints.get(dst) ?? 0)) };
  }

  /** A new config: policy and sites rebuilt when they changed, rules reconciled. */
  async reload(config: TernConfig): Promise<{ policyChanged: boolean; sitesChanged: boolean }> {
    const policy = steerPolicy(config);
    const before = JSON.stringify([this.policy, sitePlans(this.config)]);
    const policyChanged = JSON.stringify(policy) !== JSON.stringify(this.policy);
    const sitesChanged = JSON.stringify([sitePlans(config), internetPlan(config)]) !== JSON.stringify([sitePlans(this.config), internetPlan(this.config)]);
    const oldPaths = sitePlans(this.config).flatMap((s) => s.paths);
    const oldInternet = internetPlan(this.config)?.paths ?? [];
    await this.chain;
    this.config = config;
    this.policy = policy;
    if (sitesChanged || before !== JSON.stringify([policy, sitePlans(config)])) {
      // New selectors start with empty flow tables; flows keep their
      // conntrack marks and so their paths.
      this.buildSites();
      for (const p of oldPaths) {
        if (!this.sites.some((s) => s.plan.paths.some((q) => q.mark === p.mark))) {
          const r = this.fast.remark(p.mark, 0);
          this.log.info({ mark: p.mark, path: p.name, ...r }, 'steerd: path left the plan; its flows are decided again');
          this.moveLog.record({ site: p.site, from: p.name, to: {}, reason: 'removed', classes: ['*'], flows: 0, swept: r.updated, why: 'reload' });
        }
      }
      // An internet path that left the plan: its NATed flows cannot move, so they are cleared.
      for (const p of oldInternet) {
        if (!this.internet?.plan.paths.some((q) => q.mark === p.mark && q.table === p.table)) {
          this.endHold(p.localWan);
          this.clearPath(p, 'removed', 'reload', this.fast.clear(p.mark, 0xffffffff, true));
        }
      }
    }
    await this.installRules();
    await this.refresh('reload');
    this.ctx.bus.publish('steer.policy', { classes: policy.classes.map((c) => c.name), sites: this.sites.map((s) => s.plan.site) });
    return { policyChanged, sitesChanged };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.ctx.clock.clearInterval(t);
    for (const wan of [...this.holds.keys()]) this.endHold(wan);
    await this.chain.catch(() => undefined);
    // Moves held back by the rate limit are written before the store closes.
    await this.moveLog.close();
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
    // Rules, nft and conntrack marks stay: established flows keep their
    // paths in the kernel, new ones bypass the unbound queue.
    this.fast.close();
    this.rules.close?.();
  }
}

/** Removes everything steerd put in the kernel: nft chains and sets, the iptables chain, the path rules. */
export async function uninstall(deps: Pick<SteerdDeps, 'rules' | 'nft' | 'iptables'> = {}): Promise<void> {
  const rules = deps.rules ?? new Rtnl();
  try {
    await (deps.nft ?? new Nft()).remove();
    await (deps.iptables ?? new IptablesQueue()).remove();
    await reconcileRules(rules, [], [4, 6]);
  } finally {
    rules.close?.();
  }
}

/** The daemon: what tern-steerd runs (main.ts). */
export function steerdSpec(deps: SteerdDeps = {}): DaemonSpec {
  return {
    name: 'steerd',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const d = new Steerd(ctx, deps);
      await d.start();
      // Params checked against daemons/lib/api/steerd.ts before these run.
      const bus = contractBus(ctx, steerdApi);
      bus.method('steer.counters', () => d.counters());
      bus.method('steer.paths', () => d.paths());
      bus.method('steer.flows', (params) => d.flows(params?.limit ?? 20));
      bus.method('steer.internet', () => d.internetView());
      bus.method('steer.reload', async () => {
        // The steering sections only: the runner's daemon.reload takes the whole file.
        const loaded = await loadConfig(ctx.paths.configFile);
        return d.reload({ ...ctx.config, appClasses: loaded.config.appClasses, policies: loaded.config.policies });
      });
      return {
        reload: async (config) => { await d.reload(config); },
        status: () => ({ method: d.counters().method, sites: d.paths().length, totals: d.totals }),
        stop: () => d.stop(),
      };
    },
  };
}
