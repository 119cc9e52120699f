// The kernel objects that make one direction of a WAN's shaping: a root
// qdisc (cake, or HTB with a class per QoS class, each with an fq_codel or
// FIFO leaf, and u32 DSCP filters), with handles that mark them as Tern's.
import { qosClassNames, type QosClassName } from '../lib/config/index.js';
import { dscpKey, matchAll, tcHandle, type HtbClassOptions, type QdiscOptions, type U32Options } from '../lib/kernel/index.js';
import { defaultQosClass, dscpOf } from './classify.js';
import type { Direction, WanPlan } from './plan.js';

/** Major of every root qdisc Tern puts on a device ("tq"): 7471:. */
export const rootMajor = 0x7471;
export const rootHandle = tcHandle(rootMajor);
/** The HTB class every QoS class borrows from, at the shaped rate: 7471:1. */
export const parentClass = tcHandle(rootMajor, 1);
/** HTB class minor and priority of each QoS class; each leaf qdisc has handle <minor>:. */
export const classIds: Record<QosClassName, { minor: number; prio: number }> = {
  realtime: { minor: 0x11, prio: 0 },
  interactive: { minor: 0x12, prio: 1 },
  besteffort: { minor: 0x13, prio: 2 },
  bulk: { minor: 0x14, prio: 3 },
};
/** u32 DSCP filters on the root: one priority per protocol (a u32 priority holds one protocol). */
export const filterPrio = { ip: 1, ipv6: 2 } as const;
/** The ingress redirect to the IFB, on the WAN's ingress qdisc. */
export const redirectPrio = 0x7471;

/**
 * How long a FIFO leaf may hold at its class's ceiling rate. Small for
 * the classes that must stay snappy, larger where TCP throughput matters
 * more than delay; HTB priority keeps realtime ahead of all of them.
 */
export const fifoBudgetMs: Record<QosClassName, number> = { realtime: 10, interactive: 20, besteffort: 30, bulk: 50 };
/** A FIFO never holds fewer packets than this: TCP needs a few to keep its rate. */
export const fifoMinPackets = 8;

/** Cake's diffserv4 tins as its statistics list them (tin 1..4), by QoS class. */
export const cakeTins: QosClassName[] = ['bulk', 'besteffort', 'interactive', 'realtime'];

const ethHeader = 14;
const mtuFrame = 1514;
/** The smallest class rate: a share of 0 % still lets a class borrow. */
const minClassBps = 8000;

export interface TreeClass {
  name: QosClassName | 'shaper';
  classid: number;
  parent: number;
  options: HtbClassOptions;
}

export interface TreeLeaf {
  name: QosClassName;
  parent: number;
  handle: number;
  options: QdiscOptions;
}

export interface TreeFilter {
  name: QosClassName;
  dscp: number;
  prio: number;
  protocol: 'ip' | 'ipv6';
  /** u32 node number within the priority. */
  node: number;
  options: U32Options;
}

export interface DeviceTree {
  direction: Direction;
  dev: string;
  rateBps: number;
  root: { handle: number; options: QdiscOptions };
  classes: TreeClass[];
  leaves: TreeLeaf[];
  filters: TreeFilter[];
}

/** sqm-scripts' fq_codel for slow links: target at least 1.5 MTU times at the rate, interval grown by as much. */
function fqCodel(ceilBps: number, overhead: number, dir: Direction): QdiscOptions {
  const mtuUs = Math.ceil(((mtuFrame + overhead) * 8 * 1e6) / ceilBps);
  const targetUs = Math.max(5000, Math.ceil(1.5 * mtuUs));
  return {
    kind: 'fq_codel',
    targetUs,
    intervalUs: 100000 + (targetUs - 5000),
    // ECN marks instead of drops downstream, where the queue sits after the bottleneck; upstream drops (sqm's defaults).
    ecn: dir === 'down',
    quantum: ceilBps < 100e6 ? 300 : mtuFrame,
    memoryLimit: 4 << 20,
  };
}

function fifo(name: QosClassName, ceilBps: number, overhead: number): QdiscOptions {
  const budget = Math.round(((ceilBps / 8) * fifoBudgetMs[name]) / 1000);
  return { kind: 'bfifo', limit: Math.max(fifoMinPackets * (mtuFrame + overhead), budget) };
}

/** The objects of one direction of a WAN. */
export function deviceTree(p: WanPlan, dir: Direction): DeviceTree {
  const d = dir === 'up' ? p.up : p.down;
  if (!d) throw new Error(`qosd: tree: WAN ${p.wan} has no ${dir} direction`);
  const R = d.rateBps;
  if (p.mode === 'cake') {
    return {
      direction: dir,
      dev: d.dev,
      rateBps: R,
      root: {
        handle: rootHandle,
        options: {
          kind: 'cake', bandwidthBps: R, diffserv: 'diffserv4', flowMode: dir === 'up' ? 'dual-srchost' : 'dual-dsthost',
          overheadBytes: p.overheadBytes, nat: true, ingress: dir === 'down', splitGso: true,
        },
      },
      classes: [],
      leaves: [],
      filters: [],
    };
  }
  // HTB counts the Ethernet header already in the packet length; the configured overhead is beyond the IP packet.
  const overhead = Math.max(0, p.overheadBytes - ethHeader);
  const frame = mtuFrame + overhead;
  const cls = (rateBps: number, ceilBps: number, prio: number): HtbClassOptions => ({
    kind: 'htb',
    rateBps,
    ceilBps,
    // About 1 ms at the rate, at least one full frame: small bursts keep the latency of other classes low.
    burstBytes: Math.max(frame, Math.round(rateBps / 8 / 1000)),
    cburstBytes: Math.max(frame, Math.round(ceilBps / 8 / 1000)),
    quantum: Math.max(frame, Math.min(200000, Math.floor(rateBps / 8 / 10))),
    prio,
    overheadBytes: overhead,
  });
  const classes: TreeClass[] = [{ name: 'shaper', classid: parentClass, parent: rootHandle, options: cls(R, R, 0) }];
  const leaves: TreeLeaf[] = [];
  for (const name of qosClassNames) {
    const { minor, prio } = classIds[name];
    const s = p.classes[name];
    const rate = Math.min(R, Math.max(minClassBps, Math.floor((R * s.sharePct) / 100)));
    const ceil = Math.max(rate, Math.floor((R * s.ceilPct) / 100));
    const classid = tcHandle(rootMajor, minor);
    classes.push({ name, classid, parent: parentClass, options: cls(rate, ceil, prio) });
    const leaf = p.leaf === 'fq_codel' ? fqCodel(ceil, p.overheadBytes, dir) : fifo(name, ceil, p.overheadBytes);
    leaves.push({ name, parent: classid, handle: tcHandle(minor), options: leaf });
  }
  const filters: TreeFilter[] = [];
  const marked = qosClassNames.filter((c) => c !== defaultQosClass).flatMap((name) => dscpOf(p.dscp, name).map((dscp) => ({ name, dscp })))
    .sort((a, b) => a.dscp - b.dscp);
  for (const [protocol, family] of [['ip', 4], ['ipv6', 6]] as const) {
    marked.forEach(({ name, dscp }, i) => {
      filters.push({
        name, dscp, prio: filterPrio[protocol], protocol, node: i + 1,
        options: { kind: 'u32', keys: [dscpKey(family, dscp)], classid: tcHandle(rootMajor, classIds[name].minor) },
      });
    });
  }
  return { direction: dir, dev: d.dev, rateBps: R, root: { handle: rootHandle, options: { kind: 'htb', defaultClass: classIds[defaultQosClass].minor } }, classes, leaves, filters };
}

/** The u32 filter on a WAN's ingress that sends everything it receives to the IFB. */
export function redirectFilter(ifbIndex: number): U32Options {
  return { kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: ifbIndex }] };
}
