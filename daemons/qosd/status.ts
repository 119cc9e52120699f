// qos.status: per WAN, what is shaped how (mode, rates, classes with their
// DSCP values and kernel counters) and what autorate is doing.
import { formatHandle, type TcStats } from '../lib/kernel/index.js';
import type { Decision, LatencyReading } from './autorate.js';
import { dscpOf } from './classify.js';
import type { Direction, WanPlan } from './plan.js';
import type { ApplyReport, DeviceReading } from './shaper.js';
import { cakeTins, deviceTree } from './tree.js';

export interface Counters {
  bytes: number;
  packets: number;
  drops: number;
  /** Bytes queued now. */
  backlog: number;
}

export interface ClassStatus extends Partial<Counters> {
  name: string;
  /** HTB: the class (7471:11); cake: the tin number as cake lists it. */
  classid?: string;
  tin?: number;
  prio?: number;
  rateMbps?: number;
  ceilMbps?: number;
  leaf?: string;
  dscp: number[];
}

export interface DirectionStatus extends Partial<Counters> {
  dev: string;
  /** The rate shaped now (autorate's when it runs). */
  rateMbps: number;
  configuredMbps: number;
  /** The rate the kernel reports (null: Tern's root qdisc not found). */
  kernelRateMbps: number | null;
  classes: ClassStatus[];
}

export interface AutorateDirectionStatus {
  rateMbps: number;
  minMbps: number;
  maxMbps: number;
  /** Rate changes so far. */
  steps: number;
  last: Decision | null;
}

export interface AutorateStatus {
  intervalMs: number;
  latencyTargetMs: number;
  reading: LatencyReading | null;
  sampleAgeMs: number | null;
  up: AutorateDirectionStatus;
  down: AutorateDirectionStatus;
}

export interface WanStatus {
  wan: string;
  interface: string;
  ifb: string | null;
  mode: 'cake' | 'htb';
  leaf: string | null;
  overheadBytes: number;
  state: 'shaped' | 'error' | 'waiting';
  error: string | null;
  egress: DirectionStatus;
  ingress: DirectionStatus | null;
  autorate: AutorateStatus | null;
  lastApply: (ApplyReport & { at: number }) | null;
}

const mbps = (bps: number): number => Math.round(bps / 1e3) / 1e3;
const counters = (s: TcStats | null | undefined): Partial<Counters> => (s ? { bytes: s.bytes, packets: s.packets, drops: s.drops, backlog: s.backlog } : {});

/** One direction: the plan's classes joined with the kernel's counters. */
export function directionStatus(plan: WanPlan, dir: Direction, reading: DeviceReading | null): DirectionStatus | null {
  const d = dir === 'up' ? plan.up : plan.down;
  if (!d) return null;
  const tree = deviceTree(plan, dir);
  const root = reading?.root ?? null;
  let kernelBps: number | null = null;
  let classes: ClassStatus[];
  if (plan.mode === 'cake') {
    if (root?.options?.kind === 'cake') kernelBps = root.options.bandwidthBps;
    classes = cakeTins.map((name, i) => {
      const t = root?.tins?.[i];
      return { name, tin: i + 1, dscp: dscpOf(plan.dscp, name), ...(t ? { bytes: t.bytes, packets: t.packets, drops: t.drops, backlog: t.backlog } : {}) };
    });
  } else {
    const shaperClass = reading?.classes.find((c) => c.classid === tree.classes[0]!.classid);
    if (root && shaperClass?.options) kernelBps = shaperClass.options.rateBps;
    classes = tree.classes.slice(1).map((c) => {
      const k = reading?.classes.find((x) => x.classid === c.classid);
      const leaf = tree.leaves.find((l) => l.parent === c.classid);
      return {
        name: c.name,
        classid: formatHandle(c.classid),
        prio: c.options.prio,
        rateMbps: mbps(c.options.rateBps),
        ceilMbps: mbps(c.options.ceilBps),
        leaf: leaf?.options.kind ?? 'none',
        dscp: dscpOf(plan.dscp, c.name as Exclude<typeof c.name, 'shaper'>),
        ...counters(k?.stats),
      };
    });
  }
  return {
    dev: d.dev,
    rateMbps: mbps(d.rateBps),
    configuredMbps: mbps(d.configuredBps),
    kernelRateMbps: kernelBps === null ? null : mbps(kernelBps),
    ...counters(root?.stats),
    classes,
  };
}
