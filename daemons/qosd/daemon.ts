// tern-qosd: detects what the kernel can shape, shapes every WAN (egress on
// the interface, ingress through an IFB) with DSCP classes, follows each
// link's real rate from the latency facts probed publishes (autorate), and
// serves qos.status and qos.capabilities. Reconciliation is serial: start,
// reloads, the 30 s resync, autorate steps and capability refreshes take
// turns. See README.md for the kernel objects and the rate controller.
import type { TimerHandle } from '../lib/clock/index.js';
import type { QosClassName, TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage, isTernError } from '../lib/errors.js';
import { Rtnl, Tc } from '../lib/kernel/index.js';
import { componentLogger, type Logger } from '../lib/log/index.js';
import { socketPath } from '../lib/paths/index.js';
import { qosdApi } from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { LatencyMonitor, RateController, ThroughputMeter, type Decision, type LatencyReading, type Reason } from './autorate.js';
import { KernelProber, detect, noShaperError, type CapabilityProber, type Detection } from './capabilities.js';
import type { LinkOps, TcOps } from './kernel.js';
import { qosPlan, type CurrentRates, type Direction, type QosPlan, type WanPlan } from './plan.js';
import { ProbedFeed, wanMetricsTopic, type WanMetrics } from './probed.js';
import { Shaper, changedAnything, type ApplyReport } from './shaper.js';
import { directionStatus, type AutorateDirectionStatus, type WanStatus } from './status.js';

/** How often the whole shaping is reconciled again: repairs drift, retries WANs whose interface was missing. */
const resyncMs = 30_000;

/** The latency facts autorate reads, as qos.status reports the feed. */
export interface MetricsFeed {
  start(): Promise<void>;
  close(): Promise<void>;
  readonly connected: boolean;
  readonly rejectedCount: number;
}

/** The kernel, the capability prober and the probed feed qosd works with; tests pass fakes. */
export interface QosdDeps {
  /** Default: a Tc client on a real rtnetlink socket. */
  tc?: TcOps & { close?(): void };
  /** Default: an Rtnl client on a real rtnetlink socket. */
  links?: LinkOps & { close?(): void };
  /** Default: KernelProber on a scratch IFB. */
  prober?: () => CapabilityProber;
  /** Default: a ProbedFeed subscribed to wan.metrics on probed's socket, reconnecting. */
  feed?: (onMetrics: (m: WanMetrics) => void) => MetricsFeed;
}

/** qos.rate: one autorate change of one direction of one WAN. */
export interface RateEvent {
  wan: string;
  direction: Direction;
  fromMbps: number;
  toMbps: number;
  reason: Reason;
  /** This direction's change count since qosd started. */
  step: number;
  rttMs: number | null;
  baselineMs: number | null;
  deltaMs: number | null;
  achievedMbps: number | null;
  ts: number;
}

/** qos.status: the reply (daemons/lib/api/qosd.ts). */
export interface QosStatus {
  enabled: boolean;
  capabilities: Detection['capabilities'];
  choice: Detection['choice'];
  wans: WanStatus[];
  unshaped: string[];
  dscp: Record<string, QosClassName>;
  notes: QosPlan['notes'];
  problems: QosPlan['problems'];
  probed: { connected: boolean; rejected: number };
}

interface WanRuntime {
  state: WanStatus['state'];
  error: string | null;
  lastApply: (ApplyReport & { at: number }) | null;
}

interface AutorateRuntime {
  key: string;
  intervalMs: number;
  latencyTargetMs: number;
  staleMs: number;
  monitor: LatencyMonitor;
  ctrl: Record<Direction, RateController>;
  meter: Record<Direction, ThroughputMeter>;
  steps: Record<Direction, number>;
  last: Record<Direction, Decision | null>;
  reading: LatencyReading | null;
  timer: TimerHandle;
}

/** One direction autorate changed in a step, and the rate it had before. */
interface RateChange {
  dir: Direction;
  from: number;
  d: Decision;
}

const mbps = (bps: number | null | undefined): number | null => (bps === null || bps === undefined ? null : Math.round(bps / 1e3) / 1e3);
const ms = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v * 100) / 100);
const dirs: Direction[] = ['up', 'down'];

/** The shaping state of one running qosd. */
export class Qosd {
  private readonly ctx: DaemonContext;
  private readonly log: Logger;
  private readonly tc: TcOps & { close?(): void };
  private readonly links: LinkOps & { close?(): void };
  private readonly prober: () => CapabilityProber;
  private readonly shaper: Shaper;
  private readonly feed: MetricsFeed;
  private config: TernConfig;
  /** Set by start(). */
  private detection!: Detection & { cached: boolean };
  /** Set by start(). */
  private plan!: QosPlan;
  private readonly runtime = new Map<string, WanRuntime>();
  private readonly autorate = new Map<string, AutorateRuntime>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private resync: TimerHandle | undefined;

  constructor(ctx: DaemonContext, deps: QosdDeps = {}) {
    this.ctx = ctx;
    this.log = componentLogger(ctx.logger, 'qosd');
    this.links = deps.links ?? new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') });
    this.tc = deps.tc ?? new Tc({ logger: componentLogger(ctx.logger, 'tc') });
    this.prober = deps.prober ?? (() => new KernelProber(this.tc, this.links));
    this.shaper = new Shaper({ tc: this.tc, links: this.links, logger: this.log });
    this.config = ctx.config;
    const onMetrics = (m: WanMetrics): void => this.onMetrics(m);
    this.feed = deps.feed?.(onMetrics)
      ?? new ProbedFeed({ socketPath: socketPath(ctx.paths, 'probed'), onMetrics, logger: componentLogger(ctx.logger, 'probed-feed'), clock: ctx.clock });
  }

  /** Detection, then shaping every WAN; autorate begins from the rate the kernel already has (a restart must not jump back to the configured rate). */
  async start(): Promise<void> {
    try {
      this.detection = await detect({ runDir: this.ctx.paths.runDir, prober: this.prober, now: this.ctx.clock.now(), log: this.log });
    } catch (err) {
      this.tc.close?.();
      this.links.close?.();
      throw err;
    }
    const { capabilities, choice, cached } = this.detection;
    this.log.info({ capabilities, choice, cached }, 'qosd: capabilities');
    this.plan = qosPlan(this.config, choice);
    this.showCapabilities();
    const seeds = new Map<string, Partial<Record<Direction, number>>>();
    for (const w of this.plan.wans) {
      if (!w.autorate) continue;
      seeds.set(w.wan, { up: await this.shaper.currentRate(w, 'up'), down: await this.shaper.currentRate(w, 'down') });
    }
    this.configureAutorate(this.plan, seeds);
    this.plan = this.replan();
    this.showPlan(this.plan);
    await this.serial(() => this.applyAll(this.plan, 'start', false));
    await this.feed.start();
    this.resync = this.ctx.clock.setInterval(() => {
      this.serial(async () => {
        if (this.stopped) return;
        this.plan = this.replan();
        await this.applyAll(this.plan, 'resync', false);
      }).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'qosd: resync failed'));
    }, resyncMs);
  }

  /**
   * A new config, checked whole before the kernel sees it (plan problems,
   * missing interfaces) and applied with rollbackAll: throws to refuse it,
   * and then the old config and its shaping stay.
   */
  reload(next: TernConfig): Promise<void> {
    return this.serial(async () => {
      const p = qosPlan(next, this.detection.choice, this.rates());
      const problems = p.problems.map((x) => `${x.key}: ${x.message}`);
      for (const w of p.wans) {
        if (!(await this.links.link(w.interface))) problems.push(`wans[${w.index}].interface: no interface '${w.interface}' on this box (TERN_E_QOS_WAN)`);
      }
      if (problems.length > 0) throw new TernError('TERN_E_CONFIG_SEMANTIC', `qosd: reload: ${problems.join('; ')}`);
      await this.applyAll(p, 'reload', true);
      this.config = next;
      this.configureAutorate(p);
      this.plan = this.replan();
      this.showCapabilities();
      this.showPlan(this.plan);
    });
  }

  /** daemon.status: the shaping in brief. */
  status(): Record<string, unknown> {
    return {
      mode: this.detection.choice.mode,
      leaf: this.detection.choice.leaf,
      wans: { shaped: [...this.runtime.values()].filter((r) => r.state === 'shaped').length, planned: this.plan.wans.length },
      autorate: [...this.autorate.keys()],
    };
  }

  /** qos.status: every WAN's shaping with the kernel's counters, autorate, the DSCP map, the probed feed. */
  async shaping(): Promise<QosStatus> {
    const wans: WanStatus[] = [];
    for (const w of this.plan.wans) {
      const rt = this.runtime.get(w.wan);
      const up = await this.shaper.read(w, 'up').catch(() => null);
      const down = await this.shaper.read(w, 'down').catch(() => null);
      wans.push({
        wan: w.wan, interface: w.interface, ifb: w.ifb, mode: w.mode, leaf: w.leaf, overheadBytes: w.overheadBytes,
        state: rt?.state ?? 'waiting', error: rt?.error ?? null,
        egress: directionStatus(w, 'up', up)!,
        ingress: directionStatus(w, 'down', down),
        autorate: this.autorateStatus(w),
        lastApply: rt?.lastApply ?? null,
      });
    }
    return {
      enabled: this.config.qos.enabled,
      capabilities: this.detection.capabilities,
      choice: this.detection.choice,
      wans,
      unshaped: this.plan.unshaped.map((u) => u.wan),
      dscp: Object.fromEntries([...this.plan.dscp.byDscp].sort((a, b) => a[0] - b[0])),
      notes: this.plan.notes,
      problems: this.plan.problems,
      probed: { connected: this.feed.connected, rejected: this.feed.rejectedCount },
    };
  }

  /** qos.capabilities: with refresh, detects again and reshapes every WAN when the choice changed. */
  async capabilities(refresh: boolean): Promise<Detection & { cached: boolean }> {
    if (refresh) {
      await this.serial(async () => {
        const before = JSON.stringify(this.detection.choice);
        this.detection = await detect({ runDir: this.ctx.paths.runDir, prober: this.prober, now: this.ctx.clock.now(), refresh: true, log: this.log });
        this.showCapabilities();
        if (JSON.stringify(this.detection.choice) !== before) {
          this.log.info({ choice: this.detection.choice }, 'qosd: capabilities changed; reshaping');
          this.plan = this.replan();
          this.showPlan(this.plan);
          await this.applyAll(this.plan, 'capabilities', false);
        }
      });
    }
    return { ...this.detection };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync) this.ctx.clock.clearInterval(this.resync);
    for (const a of this.autorate.values()) this.ctx.clock.clearInterval(a.timer);
    await this.chain.catch(() => undefined);
    await this.feed.close().catch(() => undefined);
    // The shaping stays in the kernel: a stopped or restarting qosd must not unshape the WANs.
    this.tc.close?.();
    this.links.close?.();
  }

  /** Kernel work one pass at a time: a pass sees the state the previous one left. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Autorate's current rate per WAN and direction. */
  private rates(): CurrentRates {
    return new Map([...this.autorate].map(([w, a]) => [w, { up: a.ctrl.up.rateBps, down: a.ctrl.down.rateBps }]));
  }

  /** The plan of the current config and capabilities at autorate's rates. */
  private replan(): QosPlan {
    return qosPlan(this.config, this.detection.choice, this.rates());
  }

  private showCapabilities(): void {
    const { capabilities, choice } = this.detection;
    const enabled = this.config.qos.enabled;
    this.ctx.health.check('qos.capabilities', enabled && !choice.mode, noShaperError(capabilities).message, 'error');
    this.ctx.health.check('qos.ingress', enabled && !!choice.mode && !choice.ingress,
      'qosd: capabilities: no IFB, ingress qdisc or mirred in this kernel: downstream traffic is not shaped', 'warning');
  }

  private showPlan(p: QosPlan): void {
    this.ctx.health.check('qos.config', p.problems.length > 0, p.problems.map((x) => `${x.key}: ${x.message}`).join('; '), 'warning');
    if (p.enabled) for (const note of p.notes) this.log.info({ note }, 'qosd: plan: note');
  }

  /** A WAN not shaped as planned: its state, health and log say why. */
  private failed(w: { wan: string }, err: unknown): TernError {
    const e = isTernError(err) ? err : new TernError('TERN_E_QOS_KERNEL', `qosd: apply: WAN ${w.wan}: ${errorMessage(err)}`, { cause: err });
    const waiting = e.code === 'TERN_E_QOS_WAN';
    this.runtime.set(w.wan, { state: waiting ? 'waiting' : 'error', error: e.message, lastApply: this.runtime.get(w.wan)?.lastApply ?? null });
    this.ctx.health.set(`qos.wan.${w.wan}`, e.message, waiting ? 'warning' : 'error');
    this.log.error({ wan: w.wan, code: e.code, err: e.message }, 'qosd: apply: WAN not shaped as configured');
    return e;
  }

  private applied(w: WanPlan, r: ApplyReport, why: string): void {
    this.runtime.set(w.wan, { state: 'shaped', error: null, lastApply: { ...r, at: this.ctx.clock.now() } });
    this.ctx.health.clear(`qos.wan.${w.wan}`);
    if (changedAnything(r)) {
      this.log.info({ wan: w.wan, why, created: r.created, changed: r.changed, deleted: r.deleted }, 'qosd: apply: shaping updated');
      this.ctx.bus.publish('qos.applied', { wan: w.wan, why, ...r });
    } else {
      this.log.debug({ wan: w.wan, why }, 'qosd: apply: kernel already as planned');
    }
  }

  /**
   * Applies a whole plan. With rollbackAll (a reload), the first WAN that
   * fails puts every WAN this pass changed back and the error is thrown:
   * the config is refused as a whole and the kernel keeps the old one.
   */
  private async applyAll(p: QosPlan, why: string, rollbackAll: boolean): Promise<void> {
    await this.shapeWans(p, why, rollbackAll);
    await this.unshapeWans(p, why);
    await this.sweep(p, why);
  }

  private async shapeWans(p: QosPlan, why: string, rollbackAll: boolean): Promise<void> {
    const done: Array<{ plan: WanPlan; prev: WanPlan | undefined }> = [];
    for (const w of p.wans) {
      const prev = this.shaper.appliedPlan(w.wan);
      try {
        this.applied(w, await this.shaper.apply(w), why);
        done.push({ plan: w, prev });
      } catch (err) {
        const e = this.failed(w, err);
        if (!rollbackAll) continue;
        await this.rollback(done);
        throw e;
      }
    }
  }

  /** Puts the WANs of a failed pass back, latest first: their previous plan, or unshaped when they had none. */
  private async rollback(done: Array<{ plan: WanPlan; prev: WanPlan | undefined }>): Promise<void> {
    for (const d of done.reverse()) {
      try {
        if (d.prev) this.applied(d.prev, await this.shaper.apply(d.prev), 'rollback');
        else await this.shaper.remove(d.plan.wan, d.plan.interface, d.plan.ifb);
      } catch (again) {
        this.failed(d.plan, again);
      }
    }
  }

  private async unshapeWans(p: QosPlan, why: string): Promise<void> {
    for (const u of p.unshaped) {
      try {
        const r = await this.shaper.remove(u.wan, u.interface, u.ifb);
        if (changedAnything(r)) this.log.info({ wan: u.wan, deleted: r.deleted, why }, 'qosd: apply: shaping removed');
        this.runtime.delete(u.wan);
        this.ctx.health.clear(`qos.wan.${u.wan}`);
      } catch (err) {
        this.failed(u, err);
      }
    }
  }

  /** Removes the shaping of devices no WAN of the plan uses (WANs that left the config). */
  private async sweep(p: QosPlan, why: string): Promise<void> {
    const keep = { interfaces: new Set(p.wans.map((w) => w.interface)), ifbs: new Set(p.wans.flatMap((w) => (w.ifb ? [w.ifb] : []))) };
    try {
      const r = await this.shaper.sweep(keep);
      if (changedAnything(r)) this.log.info({ deleted: r.deleted, why }, 'qosd: sweep: removed shaping of devices no longer shaped');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'qosd: sweep: could not remove stale shaping; retrying at the next resync');
    }
  }

  /** One latency fact from probed (wan.metrics, checked in probed.ts): autorate's input is the round's RTT. */
  private onMetrics(m: WanMetrics): void {
    const a = this.autorate.get(m.wan);
    // A round without an answered probe says nothing about the queue.
    if (a && m.rttLatestMs !== null) a.monitor.add({ rttMs: m.rttLatestMs, ts: m.ts, ...(m.rttBaselineMs !== undefined ? { rttBaselineMs: m.rttBaselineMs } : {}) });
  }

  /** One autorate step of a WAN: measure, decide per direction, and apply and announce what changed. */
  private tick(wan: string): Promise<void> {
    return this.serial(async () => {
      const a = this.autorate.get(wan);
      const w = this.plan.wans.find((x) => x.wan === wan);
      if (this.stopped || !a || !w || this.runtime.get(wan)?.state !== 'shaped') return;
      const mono = this.ctx.clock.monotonic();
      const now = this.ctx.clock.now();
      const reading = a.monitor.take(now);
      a.reading = reading ?? a.reading;
      const age = a.monitor.ageMs(now);
      this.ctx.health.check(`qos.autorate.${wan}`, age > a.staleMs,
        `qosd: autorate: WAN ${wan}: no latency fact from probed (${wanMetricsTopic}) for ${Number.isFinite(age) ? `${Math.round(age / 1000)} s` : 'ever'}; the rate is held`, 'warning');
      const changes = await this.decide(w, a, reading, mono);
      if (changes.length === 0) return;
      if (await this.applyRates(wan, a, changes)) this.announce(wan, a, changes, reading, now);
    });
  }

  /** Each direction's controller steps on the throughput its root qdisc passed and the latency read. */
  private async decide(w: WanPlan, a: AutorateRuntime, reading: LatencyReading | null, mono: number): Promise<RateChange[]> {
    const changes: RateChange[] = [];
    for (const dir of dirs) {
      if (dir === 'down' && !w.down) continue;
      const achieved = a.meter[dir].sample(await this.shaper.rootBytes(w, dir), mono);
      const from = a.ctrl[dir].rateBps;
      const d = a.ctrl[dir].step(mono, reading?.deltaMs ?? null, achieved);
      a.last[dir] = d;
      if (d.reason) changes.push({ dir, from, d });
    }
    return changes;
  }

  /** Shapes the WAN at the new rates; on a kernel error the controllers go back to the rates the kernel kept. */
  private async applyRates(wan: string, a: AutorateRuntime, changes: RateChange[]): Promise<boolean> {
    const next = this.replan().wans.find((x) => x.wan === wan);
    if (!next) return false;
    try {
      this.applied(next, await this.shaper.apply(next), 'autorate');
      this.plan = { ...this.plan, wans: this.plan.wans.map((x) => (x.wan === wan ? next : x)) };
      return true;
    } catch (err) {
      for (const c of changes) a.ctrl[c.dir].reset(c.from);
      this.failed(next, err);
      return false;
    }
  }

  private announce(wan: string, a: AutorateRuntime, changes: RateChange[], reading: LatencyReading | null, now: number): void {
    for (const c of changes) {
      a.steps[c.dir] += 1;
      const ev: RateEvent = {
        wan, direction: c.dir, fromMbps: mbps(c.from)!, toMbps: mbps(c.d.rateBps)!, reason: c.d.reason!, step: a.steps[c.dir],
        rttMs: ms(reading?.rttMs), baselineMs: ms(reading?.baselineMs), deltaMs: ms(reading?.deltaMs),
        achievedMbps: mbps(c.d.achievedBps), ts: now,
      };
      this.log.info(ev, `qosd: autorate: WAN ${wan} ${c.dir} ${ev.fromMbps} → ${ev.toMbps} Mbit/s (${ev.reason})`);
      this.ctx.bus.publish('qos.rate', ev);
    }
  }

  /** Controllers for the WANs with autorate; a WAN whose settings did not change keeps its state. */
  private configureAutorate(p: QosPlan, seeds: CurrentRates = new Map()): void {
    const want = new Set<string>();
    for (const w of p.wans) {
      if (!w.autorate) continue;
      want.add(w.wan);
      const key = JSON.stringify({ ar: w.autorate, up: w.up.configuredBps, down: w.down?.configuredBps ?? null });
      const old = this.autorate.get(w.wan);
      if (old?.key === key) continue;
      if (old) this.ctx.clock.clearInterval(old.timer);
      const rt = this.autorateRuntime(w, key, old, seeds.get(w.wan));
      this.autorate.set(w.wan, rt);
      this.log.info({ wan: w.wan, up: mbps(rt.ctrl.up.rateBps), down: mbps(rt.ctrl.down.rateBps), intervalMs: rt.intervalMs }, 'qosd: autorate: running');
    }
    for (const [wan, a] of this.autorate) {
      if (want.has(wan)) continue;
      this.ctx.clock.clearInterval(a.timer);
      this.autorate.delete(wan);
      this.ctx.health.clear(`qos.autorate.${wan}`);
    }
  }

  /**
   * A WAN's autorate with new settings: each direction starts from the old
   * controller's rate, else the seed (the kernel's rate at start), when it
   * lies within the bounds; latency history and step counts carry over.
   */
  private autorateRuntime(w: WanPlan, key: string, old: AutorateRuntime | undefined, seed: Partial<Record<Direction, number>> | undefined): AutorateRuntime {
    const ar = w.autorate!;
    const ctrl = (dir: Direction): RateController => {
      const bounds = ar[dir];
      const base = (dir === 'up' ? w.up.configuredBps : w.down?.configuredBps) ?? bounds.maxBps;
      const start = old?.ctrl[dir].rateBps ?? seed?.[dir];
      const inside = start !== undefined && start >= bounds.minBps && start <= bounds.maxBps ? start : undefined;
      return new RateController({ minBps: bounds.minBps, maxBps: bounds.maxBps, baseBps: base, latencyTargetMs: ar.latencyTargetMs, refractoryMs: Math.max(1500, 3 * ar.intervalMs) }, inside);
    };
    const staleMs = Math.max(3000, 5 * ar.intervalMs);
    return {
      key, intervalMs: ar.intervalMs, latencyTargetMs: ar.latencyTargetMs, staleMs,
      monitor: old?.monitor ?? new LatencyMonitor({ staleMs }),
      ctrl: { up: ctrl('up'), down: ctrl('down') },
      meter: { up: new ThroughputMeter(), down: new ThroughputMeter() },
      steps: old?.steps ?? { up: 0, down: 0 },
      last: { up: null, down: null },
      reading: null,
      timer: this.ctx.clock.setInterval(() => {
        this.tick(w.wan).catch((err: unknown) => this.log.warn({ wan: w.wan, err: errorMessage(err) }, 'qosd: autorate: step failed'));
      }, ar.intervalMs),
    };
  }

  private autorateStatus(w: WanPlan): WanStatus['autorate'] {
    const a = this.autorate.get(w.wan);
    if (!a || !w.autorate) return null;
    const dirStatus = (dir: Direction): AutorateDirectionStatus => ({
      rateMbps: mbps(a.ctrl[dir].rateBps)!,
      minMbps: mbps(a.ctrl[dir].settings.minBps)!,
      maxMbps: mbps(a.ctrl[dir].settings.maxBps)!,
      steps: a.steps[dir],
      last: a.last[dir],
    });
    const age = a.monitor.ageMs(this.ctx.clock.now());
    return { intervalMs: a.intervalMs, latencyTargetMs: a.latencyTargetMs, reading: a.reading, sampleAgeMs: Number.isFinite(age) ? age : null, up: dirStatus('up'), down: dirStatus('down') };
  }
}

/** The daemon: what tern-qosd runs (index.ts, main.ts). */
export function qosdSpec(deps: QosdDeps = {}): DaemonSpec {
  return {
    name: 'qosd',
    async start(ctx: DaemonContext): Promise<DaemonHooks> {
      const d = new Qosd(ctx, deps);
      await d.start();
      // As daemons/lib/api/qosd.ts declares them; params are checked before these run.
      const bus = contractBus(ctx, qosdApi);
      bus.method('qos.status', () => d.shaping());
      bus.method('qos.capabilities', (params) => d.capabilities(params?.refresh === true));
      return {
        reload: (config) => d.reload(config),
        status: () => d.status(),
        stop: () => d.stop(),
      };
    },
  };
}
