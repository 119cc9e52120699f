// The shaping qosd wants, per WAN, from the config, the kernel's shaping
// choice and autorate's current rates: devices, rates, classes, DSCP map,
// and the config problems that keep a WAN from being shaped.
import type { AutorateConfig, QosClassName, TernConfig } from '../lib/config/index.js';
import { ifbPrefix } from '../lib/kernel/names.js';
import type { ShapingChoice } from './capabilities.js';
import { dscpMap, type DscpMap } from './classify.js';

/** Below this a shaper is not useful: one 1500-byte packet would take 120 ms. */
export const minShapedMbps = 0.1;

export type Direction = 'up' | 'down';

export interface DirectionPlan {
  direction: Direction;
  /** The device the shaper sits on: the WAN interface (up) or its IFB (down). */
  dev: string;
  /** The rate applied now: autorate's when it runs, else the configured one. */
  rateBps: number;
  /** qos.wans[].upMbps / downMbps, or the WAN's own. */
  configuredBps: number;
}

export interface ClassShare {
  sharePct: number;
  ceilPct: number;
}

export interface AutorateBounds {
  minBps: number;
  maxBps: number;
}

export interface WanPlan {
  wan: string;
  /** Index in wans[] (for key paths). */
  index: number;
  interface: string;
  /** The IFB carrying this WAN's received traffic; null without ingress shaping. */
  ifb: string | null;
  mode: 'cake' | 'htb';
  leaf: 'fq_codel' | 'bfifo' | null;
  /** Per-packet overhead beyond the IP packet (qos.overheadBytes). */
  overheadBytes: number;
  up: DirectionPlan;
  down: DirectionPlan | null;
  classes: Record<QosClassName, ClassShare>;
  dscp: DscpMap;
  autorate: (Omit<AutorateConfig, 'minUpMbps' | 'maxUpMbps' | 'minDownMbps' | 'maxDownMbps'> & { up: AutorateBounds; down: AutorateBounds }) | null;
}

export interface Problem {
  key: string;
  message: string;
}

export interface QosPlan {
  enabled: boolean;
  wans: WanPlan[];
  /** WANs QoS leaves unshaped (qos off, qos.wans[].enabled false, or a problem): their shaping is removed. */
  unshaped: Array<{ wan: string; interface: string; ifb: string }>;
  problems: Problem[];
  notes: string[];
  dscp: DscpMap;
}

export type CurrentRates = ReadonlyMap<string, Partial<Record<Direction, number>>>;

const mbps = (bps: number): number => bps / 1e6;

/**
 * The IFB of a WAN: tqi-<wan name>, or for names too long for IFNAMSIZ the
 * first 6 characters and a hash, so the name is stable across restarts and
 * recognisable as Tern's.
 */
export function ifbName(wan: string): string {
  const plain = `${ifbPrefix}${wan}`;
  if (plain.length <= 15) return plain;
  let h = 0x811c9dc5;
  for (const ch of wan) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${ifbPrefix}${wan.slice(0, 6)}${h.toString(16).padStart(8, '0').slice(0, 5)}`;
}

const unshapedWan = (w: { name: string; interface: string }): QosPlan['unshaped'][number] => ({ wan: w.name, interface: w.interface, ifb: ifbName(w.name) });

/** The desired shaping of every WAN. rates: autorate's current rates (bit/s) by WAN. */
export function qosPlan(cfg: TernConfig, choice: ShapingChoice, rates: CurrentRates = new Map()): QosPlan {
  const dscp = dscpMap(cfg);
  const plan: QosPlan = { enabled: cfg.qos.enabled, wans: [], unshaped: [], problems: [], notes: [...dscp.notes], dscp };
  if (!cfg.qos.enabled) {
    plan.unshaped = cfg.wans.map(unshapedWan);
    return plan;
  }
  if (!choice.mode) {
    plan.unshaped = cfg.wans.map(unshapedWan);
    plan.problems.push({ key: 'qos.enabled', message: 'the kernel has neither cake nor htb (TERN_E_QOS_CAPABILITY): no WAN can be shaped' });
    return plan;
  }
  if (!choice.ingress) plan.notes.push('no IFB/ingress/mirred in this kernel: only the upstream (egress) of each WAN is shaped');
  const classes = Object.fromEntries(Object.entries(cfg.qos.classes).map(([k, v]) => [k, { sharePct: v.sharePct, ceilPct: v.ceilPct }])) as Record<QosClassName, ClassShare>;
  cfg.wans.forEach((w, i) => {
    const qi = cfg.qos.wans.findIndex((x) => x.wan === w.name);
    const q = qi >= 0 ? cfg.qos.wans[qi] : undefined;
    if (q?.enabled === false) {
      plan.unshaped.push(unshapedWan(w));
      return;
    }
    const problems: Problem[] = [];
    const rateOf = (dir: Direction): number | undefined => {
      const key = dir === 'up' ? 'upMbps' : 'downMbps';
      const fromQos = q?.[key];
      const v = fromQos ?? w[key];
      const where = fromQos !== undefined ? `qos.wans[${qi}].${key}` : `wans[${i}].${key}`;
      // The loader already refuses missing, zero, negative and absurd rates; a shaper has a floor of its own.
      if (v === undefined) {
        problems.push({ key: `wans[${i}].${key}`, message: `missing: QoS shapes WAN ${w.name} and needs its bandwidth` });
        return undefined;
      }
      if (!(v >= minShapedMbps)) {
        problems.push({ key: where, message: `${v} Mbit/s is below the ${minShapedMbps} Mbit/s a shaper can work with` });
        return undefined;
      }
      return v * 1e6;
    };
    const upBps = rateOf('up');
    const downBps = rateOf('down');
    let autorate: WanPlan['autorate'] = null;
    const a = q?.autorate;
    if (a?.enabled) {
      const bound = (dir: 'Up' | 'Down', base: number | undefined): AutorateBounds | undefined => {
        const min = a[`min${dir}Mbps`];
        const max = a[`max${dir}Mbps`];
        if (min === undefined || max === undefined) {
          problems.push({ key: `qos.wans[${qi}].autorate`, message: `min${dir}Mbps and max${dir}Mbps are needed when autorate is enabled` });
          return undefined;
        }
        if (min < minShapedMbps) problems.push({ key: `qos.wans[${qi}].autorate.min${dir}Mbps`, message: `${min} Mbit/s is below the ${minShapedMbps} Mbit/s a shaper can work with` });
        if (base !== undefined && (base < min * 1e6 || base > max * 1e6)) {
          problems.push({ key: `qos.wans[${qi}].autorate`, message: `the ${dir === 'Up' ? 'up' : 'down'}stream rate ${mbps(base)} Mbit/s is outside autorate's ${min}-${max} Mbit/s` });
        }
        return { minBps: min * 1e6, maxBps: max * 1e6 };
      };
      const up = bound('Up', upBps);
      const down = bound('Down', downBps);
      if (up && down) autorate = { enabled: true, latencyTargetMs: a.latencyTargetMs, intervalMs: a.intervalMs, up, down };
    }
    if (problems.length > 0 || upBps === undefined || downBps === undefined) {
      plan.problems.push(...problems);
      plan.unshaped.push(unshapedWan(w));
      return;
    }
    const current = rates.get(w.name) ?? {};
    const ifb = choice.ingress ? ifbName(w.name) : null;
    const within = (dir: Direction, base: number): number => {
      const r = current[dir];
      const b = autorate?.[dir];
      // Autorate's rate holds while it stays inside the bounds; without autorate the configured rate does.
      return b && r !== undefined && r >= b.minBps && r <= b.maxBps ? r : base;
    };
    plan.wans.push({
      wan: w.name,
      index: i,
      interface: w.interface,
      ifb,
      mode: choice.mode!,
      leaf: choice.mode === 'htb' ? choice.leaf : null,
      overheadBytes: cfg.qos.overheadBytes,
      up: { direction: 'up', dev: w.interface, rateBps: within('up', upBps), configuredBps: upBps },
      down: ifb ? { direction: 'down', dev: ifb, rateBps: within('down', downBps), configuredBps: downBps } : null,
      classes,
      dscp,
      autorate,
    });
  });
  return plan;
}
