// Package qosd shapes every WAN, egress and ingress (through an IFB), with DSCP classes, and follows the link's real rate from the latency probed measures under load (autorate).
import type { TimerHandle } from '../lib/clock/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage, isTernError } from '../lib/errors.js';
import { Rtnl, Tc } from '../lib/kernel/index.js';
import { componentLogger } from '../lib/log/index.js';
import { socketPath } from '../lib/paths/index.js';
import { qosdApi } from '../lib/api/index.js';
import { contractBus, type DaemonContext, type DaemonHooks, type DaemonSpec } from '../lib/runner/index.js';
import { LatencyMonitor, RateController, ThroughputMeter, type Decision, type LatencyReading, type Reason } from './autorate.js';
import { KernelProber, detect, noShaperError, type CapabilityProber, type Detection } from './capabilities.js';
import type { LinkOps, TcOps } from './kernel.js';
import { qosPlan, type CurrentRates, type Direction, type QosPlan, type WanPlan } from './plan.js';
import { ProbedFeed, type WanMetrics } from './probed.js';
import { Shaper, changedAnything, type ApplyReport } from './shaper.js';
import { directionStatus, type AutorateDirectionStatus, type WanStatus } from './status.js';

export { dscpMap, dscpOf, defaultQosClass } from './classify.js';
export { qosPlan, ifbName, minShapedMbps } from './plan.js';
export { chooseShaping, detectCapabilities, KernelProber, features } from './capabilities.js';
export { RateController, LatencyMonitor, ThroughputMeter } from './autorate.js';
export { parseWanMetrics, wanMetricsTopic } from './probed.js';
export type { WanMetrics } from './probed.js';
export type { WanStatus } from './status.js';

/** How often the whole shaping is reconciled again: repairs drift, retries WANs whose interface was missing. */
const resyncMs = 30_000;

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

const mbps = (bps: number | null | undefined): number | null => (bps === null || bps === undefined ? null : Math.round(bps / 1e3) / 1e3);
const ms = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v * 100) / 100);
const dirs: Direction[] = ['up', 'down'];

/** The kernel and the capability prober qosd works with; tests pass an in-memory kernel. */
export interface QosdDeps {
  /** Default: a Tc client on a real rtnetlink socket. */
  tc?: TcOps & { close?(): void };
  /** Default: an Rtnl client on a real rtnetlink socket. */
  links?: LinkOps & { close?(): void };
  /** Default: KernelProber on a scratch IFB. */
  prober?: () => CapabilityProber;
}

export const spec: DaemonSpec = {
  name: 'qosd',
  start: (ctx) => startQosd(ctx),
};

/** The daemon: detection, shaping every WAN, autorate, the qos.* bus methods. */
export async function startQosd(ctx: DaemonContext, deps: QosdDeps = {}): Promise<DaemonHooks> {
  const log = componentLogger(ctx.logger, 'qosd');
  const rtnl = deps.links ?? new Rtnl({ logger: componentLogger(ctx.logger, 'rtnl') });
  const tc = deps.tc ?? new Tc({ logger: componentLogger(ctx.logger, 'tc') });
  const prober = deps.prober ?? (() => new KernelProber(tc, rtnl));
  const shaper = new Shaper({ tc, links: rtnl, logger: log });
  const runDir = ctx.paths.runDir;
  let detection: Detection & { cached: boolean };
  try {
    detection = await detect({ runDir, prober, now: ctx.clock.now(), log });
  } catch (err) {
    tc.close?.();
    rtnl.close?.();
    throw err;
  }
  log.info({ capabilities: detection.capabilities, choice: detection.choice, cached: detection.cached }, 'qosd: capabilities');

  let config = ctx.config;
  let plan: QosPlan = qosPlan(config, detection.choice);
  const runtime = new Map<string, WanRuntime>();
  const autorate = new Map<string, AutorateRuntime>();
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn);
    chain = next.catch(() => undefined);
    return next;
  };
  const rates = (): CurrentRates => new Map([...autorate].map(([w, a]) => [w, { up: a.ctrl.up.rateBps, down: a.ctrl.down.rateBps }]));

  const showCapabilities = (): void => {
    ctx.health.check('qos.capabilities', config.qos.enabled && !detection.choice.mode, noShaperError(detection.capabilities).message, 'error');
    ctx.health.check('qos.ingress', config.qos.enabled && !!detection.choice.mode && !detection.choice.ingress,
      'qosd: capabilities: no IFB, ingress qdisc or mirred in this kernel: downstream traffic is not shaped', 'warning');
  };
  const showPlan = (p: QosPlan): void => {
    ctx.health.check('qos.config', p.problems.length > 0, p.problems.map((x) => `${x.key}: ${x.message}`).join('; '), 'warning');
    if (p.enabled) for (const note of p.notes) log.info({ note }, 'qosd: plan: note');
  };

  const failed = (w: { wan: string }, err: unknown): TernError => {
    const e = isTernError(err) ? err : new TernError('TERN_E_QOS_KERNEL', `qosd: apply: WAN ${w.wan}: ${errorMessage(err)}`, { cause: err });
    const waiting = e.code === 'TERN_E_QOS_WAN';
    runtime.set(w.wan, { state: waiting ? 'waiting' : 'error', error: e.message, lastApply: runtime.get(w.wan)?.lastApply ?? null });
    ctx.health.set(`qos.wan.${w.wan}`, e.message, waiting ? 'warning' : 'error');
    log.error({ wan: w.wan, code: e.code, err: e.message }, 'qosd: apply: WAN not shaped as configured');
    return e;
  };
  const applied = (w: WanPlan, r: ApplyReport, why: string): void => {
    runtime.set(w.wan, { state: 'shaped', error: null, lastApply: { ...r, at: ctx.clock.now() } });
    ctx.health.clear(`qos.wan.${w.wan}`);
    if (changedAnything(r)) {
      log.info({ wan: w.wan, why, created: r.created, changed: r.changed, deleted: r.deleted }, 'qosd: apply: shaping updated');
      ctx.bus.publish('qos.applied', { wan: w.wan, why, ...r });
    } else {
      log.debug({ wan: w.wan, why }, 'qosd: apply: kernel already as planned');
    }
  };

  /**
   * Applies a whole plan. With rollbackAll (a reload), the first WAN that
   * fails puts every WAN this pass changed back and the error is thrown:
   * the config is refused as a whole and the kernel keeps the old one.
   */
  const applyAll = async (p: QosPlan, why: string, rollbackAll: boolean): Promise<void> => {
    const done: Array<{ plan: WanPlan; prev: WanPlan | undefined }> = [];
    for (const w of p.wans) {
      const prev = shaper.appliedPlan(w.wan);
      try {
        applied(w, await shaper.apply(w), why);
        done.push({ plan: w, prev });
      } catch (err) {
        const e = failed(w, err);
        if (!rollbackAll) continue;
        for (const d of done.reverse()) {
          try {
            if (d.prev) applied(d.prev, await shaper.apply(d.prev), 'rollback');
            else await shaper.remove(d.plan.wan, d.plan.interface, d.plan.ifb);
          } catch (again) {
            failed(d.plan, again);
          }
        }
        throw e;
      }
    }
    for (const u of p.unshaped) {
      try {
        const r = await shaper.remove(u.wan, u.interface, u.ifb);
        if (changedAnything(r)) log.info({ wan: u.wan, deleted: r.deleted, why }, 'qosd: apply: shaping removed');
        runtime.delete(u.wan);
        ctx.health.clear(`qos.wan.${u.wan}`);
      } catch (err) {
        failed(u, err);
      }
    }
    const keep = { interfaces: new Set(p.wans.map((w) => w.interface)), ifbs: new Set(p.wans.flatMap((w) => (w.ifb ? [w.ifb] : []))) };
    try {
      const r = await shaper.sweep(keep);
      if (changedAnything(r)) log.info({ deleted: r.deleted, why }, 'qosd: sweep: removed shaping of devices no longer shaped');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'qosd: sweep: could not remove stale shaping; retrying at the next resync');
    }
  };

  const tick = (wan: string): Promise<void> => serial(async () => {
    const a = autorate.get(wan);
    const w = plan.wans.find((x) => x.wan === wan);
    if (stopped || !a || !w || runtime.get(wan)?.state !== 'shaped') return;
    const mono = ctx.clock.monotonic();
    const now = ctx.clock.now();
    const reading = a.monitor.take(now);
    a.reading = reading ?? a.reading;
    const age = a.monitor.ageMs(now);
    ctx.health.check(`qos.autorate.${wan}`, age > a.staleMs,
      `qosd: autorate: WAN ${wan}: no latency fact from probed (${'wan.metrics'}) for ${Number.isFinite(age) ? `${Math.round(age / 1000)} s` : 'ever'}; the rate is held`, 'warning');
    const changes: Array<{ dir: Direction; from: number; d: Decision }> = [];
    for (const dir of dirs) {
      if (dir === 'down' && !w.down) continue;
      const achieved = a.meter[dir].sample(await shaper.rootBytes(w, dir), mono);
      const from = a.ctrl[dir].rateBps;
      const d = a.ctrl[dir].step(mono, reading?.deltaMs ?? null, achieved);
      a.last[dir] = d;
      if (d.reason) changes.push({ dir, from, d });
    }
    if (changes.length === 0) return;
    const next = qosPlan(config, detection.choice, rates()).wans.find((x) => x.wan === wan);
    if (!next) return;
    try {
      applied(next, await shaper.apply(next), 'autorate');
      plan = { ...plan, wans: plan.wans.map((x) => (x.wan === wan ? next : x)) };
    } catch (err) {
      for (const c of changes) a.ctrl[c.dir].reset(c.from);
      failed(next, err);
      return;
    }
    for (const c of changes) {
      a.steps[c.dir] += 1;
      const ev: RateEvent = {
        wan, direction: c.dir, fromMbps: mbps(c.from)!, toMbps: mbps(c.d.rateBps)!, reason: c.d.reason!, step: a.steps[c.dir],
        rttMs: ms(reading?.rttMs), baselineMs: ms(reading?.baselineMs), deltaMs: ms(reading?.deltaMs),
        achievedMbps: mbps(c.d.achievedBps), ts: now,
      };
      log.info(ev, `qosd: autorate: WAN ${wan} ${c.dir} ${ev.fromMbps} → ${ev.toMbps} Mbit/s (${ev.reason})`);
      ctx.bus.publish('qos.rate', ev);
    }
  });

  /** Controllers for the WANs with autorate; a WAN whose settings did not change keeps its state. */
  const configureAutorate = (p: QosPlan, seeds: CurrentRates = new Map()): void => {
    const want = new Set<string>();
    for (const w of p.wans) {
      if (!w.autorate) continue;
      want.add(w.wan);
      const ar = w.autorate;
      const key = JSON.stringify({ ar, up: w.up.configuredBps, down: w.down?.configuredBps ?? null });
      const old = autorate.get(w.wan);
      if (old?.key === key) continue;
      if (old) ctx.clock.clearInterval(old.timer);
      const ctrl = (dir: Direction): RateController => {
        const bounds = ar[dir];
        const base = (dir === 'up' ? w.up.configuredBps : w.down?.configuredBps) ?? bounds.maxBps;
        const start = old?.ctrl[dir].rateBps ?? seeds.get(w.wan)?.[dir];
        const inside = start !== undefined && start >= bounds.minBps && start <= bounds.maxBps ? start : undefined;
        return new RateController({ minBps: bounds.minBps, maxBps: bounds.maxBps, baseBps: base, latencyTargetMs: ar.latencyTargetMs, refractoryMs: Math.max(1500, 3 * ar.intervalMs) }, inside);
      };
      const staleMs = Math.max(3000, 5 * ar.intervalMs);
      const rt: AutorateRuntime = {
        key, intervalMs: ar.intervalMs, latencyTargetMs: ar.latencyTargetMs, staleMs,
        monitor: old?.monitor ?? new LatencyMonitor({ staleMs }),
        ctrl: { up: ctrl('up'), down: ctrl('down') },
        meter: { up: new ThroughputMeter(), down: new ThroughputMeter() },
        steps: old?.steps ?? { up: 0, down: 0 },
        last: { up: null, down: null },
        reading: null,
        timer: ctx.clock.setInterval(() => { tick(w.wan).catch((err: unknown) => log.warn({ wan: w.wan, err: errorMessage(err) }, 'qosd: autorate: step failed')); }, ar.intervalMs),
      };
      autorate.set(w.wan, rt);
      log.info({ wan: w.wan, up: mbps(rt.ctrl.up.rateBps), down: mbps(rt.ctrl.down.rateBps), intervalMs: ar.intervalMs }, 'qosd: autorate: running');
    }
    for (const [wan, a] of autorate) {
      if (want.has(wan)) continue;
      ctx.clock.clearInterval(a.timer);
      autorate.delete(wan);
      ctx.health.clear(`qos.autorate.${wan}`);
    }
  };

  const onMetrics = (m: WanMetrics): void => {
    const a = autorate.get(m.wan);
    // A round without an answered probe says nothing about the queue.
    if (a && m.rttLatestMs !== null) a.monitor.add({ rttMs: m.rttLatestMs, ts: m.ts, ...(m.rttBaselineMs !== undefined ? { rttBaselineMs: m.rttBaselineMs } : {}) });
  };
  const feed = new ProbedFeed({ socketPath: socketPath(ctx.paths, 'probed'), onMetrics, logger: componentLogger(ctx.logger, 'probed-feed'), clock: ctx.clock });

  // Start: autorate begins from the rate the kernel already has (a restart must not jump back to the configured rate).
  showCapabilities();
  const seeds = new Map<string, Partial<Record<Direction, number>>>();
  for (const w of plan.wans) {
    if (!w.autorate) continue;
    seeds.set(w.wan, { up: await shaper.currentRate(w, 'up'), down: await shaper.currentRate(w, 'down') });
  }
  configureAutorate(plan, seeds);
  plan = qosPlan(config, detection.choice, rates());
  showPlan(plan);
  await serial(() => applyAll(plan, 'start', false));
  await feed.start();

  const resync = ctx.clock.setInterval(() => {
    serial(async () => {
      if (stopped) return;
      plan = qosPlan(config, detection.choice, rates());
      await applyAll(plan, 'resync', false);
    }).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'qosd: resync failed'));
  }, resyncMs);

  const autorateStatus = (w: WanPlan): WanStatus['autorate'] => {
    const a = autorate.get(w.wan);
    if (!a || !w.autorate) return null;
    const dirStatus = (dir: Direction): AutorateDirectionStatus => ({
      rateMbps: mbps(a.ctrl[dir].rateBps)!,
      minMbps: mbps(a.ctrl[dir].settings.minBps)!,
      maxMbps: mbps(a.ctrl[dir].settings.maxBps)!,
      steps: a.steps[dir],
      last: a.last[dir],
    });
    const age = a.monitor.ageMs(ctx.clock.now());
    return { intervalMs: a.intervalMs, latencyTargetMs: a.latencyTargetMs, reading: a.reading, sampleAgeMs: Number.isFinite(age) ? age : null, up: dirStatus('up'), down: dirStatus('down') };
  };

  // As daemons/lib/api/qosd.ts declares them; params are checked before these run.
  const bus = contractBus(ctx, qosdApi);
  bus.method('qos.status', async () => {
    const wans: WanStatus[] = [];
    for (const w of plan.wans) {
      const rt = runtime.get(w.wan);
      const up = await shaper.read(w, 'up').catch(() => null);
      const down = await shaper.read(w, 'down').catch(() => null);
      wans.push({
        wan: w.wan, interface: w.interface, ifb: w.ifb, mode: w.mode, leaf: w.leaf, overheadBytes: w.overheadBytes,
        state: rt?.state ?? 'waiting', error: rt?.error ?? null,
        egress: directionStatus(w, 'up', up)!,
        ingress: directionStatus(w, 'down', down),
        autorate: autorateStatus(w),
        lastApply: rt?.lastApply ?? null,
      });
    }
    return {
      enabled: config.qos.enabled,
      capabilities: detection.capabilities,
      choice: detection.choice,
      wans,
      unshaped: plan.unshaped.map((u) => u.wan),
      dscp: Object.fromEntries([...plan.dscp.byDscp].sort((a, b) => a[0] - b[0])),
      notes: plan.notes,
      problems: plan.problems,
      probed: { connected: feed.connected, rejected: feed.rejectedCount },
    };
  });
  bus.method('qos.capabilities', async (params) => {
    if (params?.refresh) {
      await serial(async () => {
        const before = JSON.stringify(detection.choice);
        detection = await detect({ runDir, prober, now: ctx.clock.now(), refresh: true, log });
        showCapabilities();
        if (JSON.stringify(detection.choice) !== before) {
          log.info({ choice: detection.choice }, 'qosd: capabilities changed; reshaping');
          plan = qosPlan(config, detection.choice, rates());
          showPlan(plan);
          await applyAll(plan, 'capabilities', false);
        }
      });
    }
    return { ...detection };
  });

  return {
    async reload(next: TernConfig): Promise<void> {
      await serial(async () => {
        const p = qosPlan(next, detection.choice, rates());
        const problems = p.problems.map((x) => `${x.key}: ${x.message}`);
        for (const w of p.wans) {
          if (!(await rtnl.link(w.interface))) problems.push(`wans[${w.index}].interface: no interface '${w.interface}' on this box (TERN_E_QOS_WAN)`);
        }
        if (problems.length > 0) throw new TernError('TERN_E_CONFIG_SEMANTIC', `qosd: reload: ${problems.join('; ')}`);
        await applyAll(p, 'reload', true);
        config = next;
        configureAutorate(p);
        plan = qosPlan(config, detection.choice, rates());
        showCapabilities();
        showPlan(plan);
      });
    },
    status: () => ({
      mode: detection.choice.mode,
      leaf: detection.choice.leaf,
      wans: { shaped: [...runtime.values()].filter((r) => r.state === 'shaped').length, planned: plan.wans.length },
      autorate: [...autorate.keys()],
    }),
    async stop(): Promise<void> {
      stopped = true;
      ctx.clock.clearInterval(resync);
      for (const a of autorate.values()) ctx.clock.clearInterval(a.timer);
      await chain.catch(() => undefined);
      await feed.close().catch(() => undefined);
      // The shaping stays in the kernel: a stopped or restarting qosd must not unshape the WANs.
      tc.close?.();
      rtnl.close?.();
    },
  };
}
