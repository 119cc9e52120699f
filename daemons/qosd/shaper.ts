// Applies a WAN's shaping to the kernel by reconciling: read the qdiscs,
// classes and filters already on the WAN and its IFB, change only what
// differs (in place, so counters keep counting), and on a kernel error put
// back the last shaping that worked.
import { TernError, errorMessage } from '../lib/errors.js';
import {
  INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT, filterMatches, formatHandle, formatU32Handle, netlinkErrno,
  normalizeClassOptions, normalizeQdiscOptions, optionsMatch, u32Node, u32NodeOf,
  type ClassInfo, type FilterInfo, type FilterProtocol, type LinkRef, type QdiscInfo, type U32Options,
} from '../lib/kernel/index.js';
import { ifbPrefix } from '../lib/kernel/names.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import type { LinkOps, TcOps } from './kernel.js';
import { ifbName, type Direction, type WanPlan } from './plan.js';
import { deviceTree, parentClass, redirectFilter, redirectPrio, rootHandle, type DeviceTree } from './tree.js';

/** The parent of ingress filters when the WAN carries clsact instead of ingress (ffff:fff2). */
const CLSACT_INGRESS = 0xfffffff2;
/** Every IFB qosd makes is named tqi-<wan> (lib/kernel/names.ts). */
export { ifbPrefix };

/** A top-level HTB class reads back with parent root (ffff:ffff) though it was made under the qdisc (7471:). */
const sameParent = (actual: number, want: number): boolean => actual === want || (actual === TC_H_ROOT && want === rootHandle);

/** What one reconcile pass did, in tc's words (empty lists: nothing changed). */
export interface ApplyReport {
  created: string[];
  changed: string[];
  deleted: string[];
}

export const emptyReport = (): ApplyReport => ({ created: [], changed: [], deleted: [] });
export const changedAnything = (r: ApplyReport): boolean => r.created.length + r.changed.length + r.deleted.length > 0;

interface WantFilter {
  prio: number;
  protocol: FilterProtocol;
  node: number;
  options: U32Options;
}

export interface ShaperOptions {
  tc: TcOps;
  links: LinkOps;
  logger?: Logger;
}

/** Counters and rates of one direction as the kernel has them. */
export interface DeviceReading {
  dev: string;
  root: QdiscInfo | null;
  classes: ClassInfo[];
}

export class Shaper {
  private readonly tc: TcOps;
  private readonly links: LinkOps;
  private readonly log: Logger;
  /** The last plan of each WAN that reached the kernel whole: what a failed apply goes back to. */
  private readonly applied = new Map<string, WanPlan>();

  constructor(opts: ShaperOptions) {
    this.tc = opts.tc;
    this.links = opts.links;
    this.log = opts.logger ?? silentLogger();
  }

  /** The plan last applied to a WAN, if any. */
  appliedPlan(wan: string): WanPlan | undefined {
    return this.applied.get(wan);
  }

  /**
   * Brings the WAN's devices to the plan. On a kernel error the WAN goes
   * back to the last plan that was applied (or to unshaped when there was
   * none) and TERN_E_QOS_KERNEL names the WAN, the device and the errno.
   */
  async apply(plan: WanPlan): Promise<ApplyReport> {
    const report = emptyReport();
    try {
      await this.sync(plan, report);
    } catch (err) {
      if (err instanceof TernError && err.code === 'TERN_E_QOS_WAN') throw err;
      const prev = this.applied.get(plan.wan);
      this.log.warn({ wan: plan.wan, err: errorMessage(err), done: report }, `qosd: apply: the kernel refused a change; ${prev ? 'restoring the previous shaping' : 'removing what was built'}`);
      let rollback: string;
      try {
        if (prev) await this.sync(prev, emptyReport());
        else await this.unshape(plan.interface, plan.ifb, emptyReport());
        rollback = prev ? 'the previous shaping stays in place' : 'the WAN stays unshaped';
      } catch (again) {
        rollback = `and putting back the previous state failed too: ${errorMessage(again)}`;
      }
      const errno = netlinkErrno(err);
      throw new TernError('TERN_E_QOS_KERNEL', `qosd: apply: WAN ${plan.wan} (${plan.interface}): ${errorMessage(err)}; ${rollback}`, {
        cause: err,
        details: { wan: plan.wan, interface: plan.interface, ...(errno ? { errno } : {}), done: report },
      });
    }
    this.applied.set(plan.wan, plan);
    return report;
  }

  /** Takes Tern's shaping off a WAN: its root qdisc, its ingress redirect, its IFB. */
  async remove(wan: string, iface: string, ifb: string | null): Promise<ApplyReport> {
    const report = emptyReport();
    await this.unshape(iface, ifb, report);
    this.applied.delete(wan);
    return report;
  }

  /**
   * Removes Tern's shaping from every device not in keep: IFBs named tqi-*
   * (and the ingress redirects into them) and root qdiscs with Tern's handle
   * 7471:, left by a WAN that is gone from the config or no longer shaped.
   */
  async sweep(keep: { interfaces: Set<string>; ifbs: Set<string> }): Promise<ApplyReport> {
    const report = emptyReport();
    const links = await this.links.links();
    const byIndex = new Map(links.map((l) => [l.index, l]));
    const staleIfbs = links.filter((l) => l.kind === 'ifb' && l.name.startsWith(ifbPrefix) && !keep.ifbs.has(l.name));
    const qdiscs = await this.tc.qdiscs();
    if (staleIfbs.length > 0) {
      const stale = new Set(staleIfbs.map((l) => l.index));
      for (const q of qdiscs.filter((x) => x.parent === TC_H_INGRESS)) {
        const dev = byIndex.get(q.ifindex);
        if (!dev) continue;
        await this.dropRedirect({ name: dev.name, ifindex: dev.index }, q, report, (f) => f.options?.actions.some((a) => 'ifindex' in a && stale.has(a.ifindex)) ?? false);
      }
    }
    for (const q of qdiscs) {
      const dev = byIndex.get(q.ifindex);
      if (!dev || q.parent !== TC_H_ROOT || q.handle !== rootHandle) continue;
      if (keep.interfaces.has(dev.name) || keep.ifbs.has(dev.name) || staleIfbs.includes(dev)) continue;
      await this.tc.deleteQdisc({ name: dev.name, ifindex: dev.index }, TC_H_ROOT);
      report.deleted.push(`${dev.name}: qdisc ${formatHandle(q.handle)} ${q.kind}`);
    }
    for (const l of staleIfbs) {
      await this.links.deleteLink(l.name);
      report.deleted.push(`link ${l.name} (ifb)`);
    }
    return report;
  }

  /** What the kernel has now on one direction of a WAN: root qdisc and classes with their counters. */
  async read(plan: WanPlan, dir: Direction): Promise<DeviceReading | null> {
    const d = dir === 'up' ? plan.up : plan.down;
    if (!d) return null;
    const dev = await this.ref(d.dev);
    if (!dev) return null;
    const root = (await this.tc.qdiscs(dev)).find((q) => q.parent === TC_H_ROOT && q.handle === rootHandle) ?? null;
    const classes = root?.kind === 'htb' ? await this.tc.classes(dev) : [];
    return { dev: d.dev, root, classes };
  }

  /** Bytes Tern's root qdisc on a WAN direction has sent (what autorate calls achieved), or null. */
  async rootBytes(plan: WanPlan, dir: Direction): Promise<number | null> {
    const d = dir === 'up' ? plan.up : plan.down;
    const dev = d ? await this.ref(d.dev) : null;
    if (!dev) return null;
    const root = (await this.tc.qdiscs(dev)).find((q) => q.parent === TC_H_ROOT && q.handle === rootHandle);
    return root?.stats?.bytes ?? null;
  }

  /** The shaped rate the kernel has on a WAN direction now (HTB's 7471:1 or cake's bandwidth), if it is Tern's. */
  async currentRate(plan: WanPlan, dir: Direction): Promise<number | undefined> {
    const r = await this.read(plan, dir).catch(() => null);
    if (!r?.root) return undefined;
    if (r.root.options?.kind === 'cake') return r.root.options.bandwidthBps || undefined;
    const c = r.classes.find((x) => x.classid === parentClass);
    return c?.options?.rateBps;
  }

  private async ref(name: string): Promise<LinkRef | null> {
    const l = await this.links.link(name);
    return l ? { name, ifindex: l.index } : null;
  }

  private async sync(plan: WanPlan, report: ApplyReport): Promise<void> {
    const wan = await this.ref(plan.interface);
    if (!wan) {
      throw new TernError('TERN_E_QOS_WAN', `qosd: apply: WAN ${plan.wan}: no interface '${plan.interface}' on this box; it stays unshaped until it appears`, {
        details: { wan: plan.wan, interface: plan.interface },
      });
    }
    if (plan.ifb && plan.down) {
      const ifb = await this.ensureIfb(plan, report);
      await this.syncTree(ifb, deviceTree(plan, 'down'), report);
      await this.syncRedirect(wan, ifb, report);
    } else {
      await this.unshapeIngress(wan, ifbName(plan.wan), report);
    }
    await this.syncTree(wan, deviceTree(plan, 'up'), report);
  }

  private async ensureIfb(plan: WanPlan, report: ApplyReport): Promise<LinkRef> {
    const name = plan.ifb!;
    let l = await this.links.link(name);
    if (l && l.kind !== 'ifb') {
      throw new TernError('TERN_E_QOS_WAN', `qosd: apply: WAN ${plan.wan}: '${name}' exists but is a ${l.kind ?? 'physical'} link, not the IFB qosd needs for ingress shaping; rename it`, {
        details: { wan: plan.wan, ifb: name },
      });
    }
    if (!l) {
      await this.links.addLink(name, 'ifb');
      report.created.push(`link ${name} (ifb)`);
      l = await this.links.link(name);
      if (!l) throw new TernError('TERN_E_QOS_KERNEL', `qosd: apply: WAN ${plan.wan}: the IFB ${name} vanished right after it was created`);
    }
    if (!l.up) {
      await this.links.setLinkUp(name, true);
      report.changed.push(`link ${name} up`);
    }
    return { name, ifindex: l.index };
  }

  private async syncTree(dev: LinkRef, t: DeviceTree, report: ApplyReport): Promise<void> {
    const at = (what: string): string => `${dev.name}: ${what}`;
    let qdiscs = await this.tc.qdiscs(dev);
    const root = qdiscs.find((q) => q.parent === TC_H_ROOT);
    const rootSpec = { dev, parent: TC_H_ROOT, handle: t.root.handle, options: t.root.options };
    let classes: ClassInfo[] = [];
    let fresh = true;
    if (root && root.handle === t.root.handle && root.kind === t.root.options.kind) {
      fresh = false;
      if (t.root.options.kind === 'htb') {
        classes = (await this.tc.classes(dev)).filter((c) => c.kind === 'htb');
        // HTB cannot change its root options, and a class cannot change parent: either means rebuilding.
        const misplaced = t.classes.some((c) => { const a = classes.find((x) => x.classid === c.classid); return a && !sameParent(a.parent, c.parent); });
        if (!optionsMatch(t.root.options, root.options, normalizeQdiscOptions) || misplaced) {
          await this.tc.deleteQdisc(dev, TC_H_ROOT);
          report.deleted.push(at(`qdisc ${formatHandle(root.handle)} htb (rebuilt)`));
          fresh = true;
        }
      } else if (!optionsMatch(t.root.options, root.options, normalizeQdiscOptions)) {
        await this.tc.changeQdisc(rootSpec);
        report.changed.push(at(`qdisc ${formatHandle(t.root.handle)} ${t.root.options.kind}`));
      }
    } else if (root && root.handle === t.root.handle) {
      // A handle keeps its kind: another kind under Tern's handle must go first.
      await this.tc.deleteQdisc(dev, TC_H_ROOT);
      report.deleted.push(at(`qdisc ${formatHandle(root.handle)} ${root.kind}`));
    }
    if (fresh) {
      await this.tc.replaceQdisc(rootSpec);
      report.created.push(at(`qdisc ${formatHandle(t.root.handle)} ${t.root.options.kind}`));
      qdiscs = [];
      classes = [];
    }
    if (t.root.options.kind !== 'htb') return;

    for (const c of t.classes) {
      const a = classes.find((x) => x.classid === c.classid);
      if (a && optionsMatch(c.options, a.options, normalizeClassOptions)) continue;
      await this.tc.setClass({ dev, classid: c.classid, parent: c.parent, options: c.options });
      (a ? report.changed : report.created).push(at(`class ${formatHandle(c.classid)} (${c.name})`));
    }
    for (const l of t.leaves) {
      const a = qdiscs.find((q) => q.parent === l.parent);
      const spec = { dev, parent: l.parent, handle: l.handle, options: l.options };
      if (a && a.handle === l.handle && a.kind === l.options.kind) {
        if (optionsMatch(l.options, a.options, normalizeQdiscOptions)) continue;
        await this.tc.changeQdisc(spec);
        report.changed.push(at(`qdisc ${formatHandle(l.handle)} ${l.options.kind} (${l.name})`));
        continue;
      }
      if (a && a.handle === l.handle) {
        await this.tc.deleteQdisc(dev, l.parent, a.handle);
        report.deleted.push(at(`qdisc ${formatHandle(a.handle)} ${a.kind} (${l.name})`));
      }
      await this.tc.replaceQdisc(spec);
      report.created.push(at(`qdisc ${formatHandle(l.handle)} ${l.options.kind} (${l.name})`));
    }
    const wants: WantFilter[] = t.filters.map((f) => ({ prio: f.prio, protocol: f.protocol, node: f.node, options: f.options }));
    const actual = fresh ? [] : await this.tc.filters(dev, t.root.handle);
    await this.syncFilters(dev, t.root.handle, wants, actual, () => true, report);
    // Classes the plan no longer has go last: filters pointing at them are gone by now.
    const wanted = new Set(t.classes.map((c) => c.classid));
    let extra = classes.filter((c) => !wanted.has(c.classid));
    while (extra.length > 0) {
      const leaves = extra.filter((c) => !extra.some((o) => o.parent === c.classid));
      for (const c of leaves) {
        await this.tc.deleteClass(dev, c.classid);
        report.deleted.push(at(`class ${formatHandle(c.classid)}`));
      }
      extra = extra.filter((c) => !leaves.includes(c));
    }
  }

  /**
   * Brings the u32 filters of the priorities owned() says are Tern's to
   * wants: matching nodes stay, differing ones are replaced, extra ones go.
   */
  private async syncFilters(dev: LinkRef, parent: number, wants: WantFilter[], actual: FilterInfo[], owned: (prio: number) => boolean, report: ApplyReport): Promise<void> {
    const at = (what: string): string => `${dev.name}: ${what}`;
    const protoOf: Record<FilterProtocol, number> = { all: 0x0003, ip: 0x0800, ipv6: 0x86dd };
    const wantPrios = new Map(wants.map((w) => [w.prio, w.protocol]));
    const seen = new Map<number, number>();
    for (const f of actual) if (owned(f.prio)) seen.set(f.prio, f.protocol);
    for (const [prio, protocol] of seen) {
      const want = wantPrios.get(prio);
      if (want !== undefined && protoOf[want] === protocol && actual.some((f) => f.prio === prio && f.kind === 'u32')) continue;
      // A priority Tern no longer wants, or holding another protocol or classifier: all of it goes.
      await this.tc.deleteFilter(dev, parent, prio, protocol, 0);
      report.deleted.push(at(`filter prio ${prio}`));
      actual = actual.filter((f) => f.prio !== prio);
    }
    for (const w of wants) {
      const nodes = actual.filter((f) => f.prio === w.prio && f.options?.divisor === null);
      const a = nodes.find((f) => u32NodeOf(f.handle) === w.node);
      if (a && filterMatches(w.options, a.options)) continue;
      if (a) await this.tc.deleteFilter(dev, parent, a.prio, a.protocol, a.handle);
      await this.tc.addFilter({ dev, parent, prio: w.prio, protocol: w.protocol, handle: u32Node(w.node), options: w.options });
      (a ? report.changed : report.created).push(at(`filter prio ${w.prio} ${w.protocol} ${a ? formatU32Handle(a.handle) : `node ${w.node}`}`));
    }
    for (const f of actual) {
      if (!owned(f.prio) || f.options?.divisor !== null || !wantPrios.has(f.prio)) continue;
      if (wants.some((w) => w.prio === f.prio && u32NodeOf(f.handle) === w.node)) continue;
      await this.tc.deleteFilter(dev, parent, f.prio, f.protocol, f.handle);
      report.deleted.push(at(`filter prio ${f.prio} ${formatU32Handle(f.handle)}`));
    }
  }

  /** The WAN's ingress qdisc (kept if someone else's clsact is there) and the redirect into the IFB. */
  private async syncRedirect(wan: LinkRef, ifb: LinkRef, report: ApplyReport): Promise<void> {
    const ing = (await this.tc.qdiscs(wan)).find((q) => q.parent === TC_H_INGRESS);
    let parent = INGRESS_HANDLE;
    if (!ing) {
      await this.tc.addQdisc({ dev: wan, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, options: { kind: 'ingress' } });
      report.created.push(`${wan.name}: qdisc ingress`);
    } else if (ing.kind === 'clsact') {
      parent = CLSACT_INGRESS;
    }
    const actual = ing ? await this.tc.filters(wan, parent) : [];
    await this.syncFilters(wan, parent, [{ prio: redirectPrio, protocol: 'all', node: 1, options: redirectFilter(ifb.ifindex) }], actual, (p) => p === redirectPrio, report);
  }

  /** Removes Tern's redirect from an ingress/clsact qdisc; the ingress qdisc goes too when nothing else hangs there. */
  private async dropRedirect(dev: LinkRef, q: QdiscInfo, report: ApplyReport, which: (f: FilterInfo) => boolean = () => true): Promise<void> {
    const parent = q.kind === 'clsact' ? CLSACT_INGRESS : INGRESS_HANDLE;
    const filters = await this.tc.filters(dev, parent);
    const ours = filters.filter((f) => f.prio === redirectPrio && f.options?.divisor === null && which(f));
    if (ours.length === 0) return;
    await this.tc.deleteFilter(dev, parent, redirectPrio, ours[0]!.protocol, 0);
    report.deleted.push(`${dev.name}: filter prio ${redirectPrio} (redirect)`);
    if (q.kind === 'ingress' && filters.every((f) => f.prio === redirectPrio) && (await this.tc.deleteQdisc(dev, TC_H_INGRESS))) {
      report.deleted.push(`${dev.name}: qdisc ingress`);
    }
  }

  private async unshapeIngress(wan: LinkRef, ifb: string | null, report: ApplyReport): Promise<void> {
    const ing = (await this.tc.qdiscs(wan)).find((q) => q.parent === TC_H_INGRESS);
    if (ing) await this.dropRedirect(wan, ing, report);
    // An ingress qdisc with no filter at all does nothing; one left by a build that failed half-way goes too.
    if (ing?.kind === 'ingress' && (await this.tc.filters(wan, INGRESS_HANDLE)).length === 0 && (await this.tc.deleteQdisc(wan, TC_H_INGRESS))) {
      report.deleted.push(`${wan.name}: qdisc ingress`);
    }
    if (ifb) {
      const l = await this.links.link(ifb);
      if (l?.kind === 'ifb') {
        await this.links.deleteLink(ifb);
        report.deleted.push(`link ${ifb} (ifb)`);
      }
    }
  }

  private async unshape(iface: string, ifb: string | null, report: ApplyReport): Promise<void> {
    const wan = await this.ref(iface);
    if (wan) {
      await this.unshapeIngress(wan, ifb, report);
      const root = (await this.tc.qdiscs(wan)).find((q) => q.parent === TC_H_ROOT);
      if (root?.handle === rootHandle) {
        await this.tc.deleteQdisc(wan, TC_H_ROOT);
        report.deleted.push(`${iface}: qdisc ${formatHandle(rootHandle)} ${root.kind}`);
      }
    } else if (ifb && (await this.links.link(ifb))?.kind === 'ifb') {
      await this.links.deleteLink(ifb);
      report.deleted.push(`link ${ifb} (ifb)`);
    }
  }
}
