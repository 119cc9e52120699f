// An in-memory kernel for qosd's logic tests: links, qdiscs, classes and u32
// filters with the rules the real one enforces (a handle keeps its kind,
// HTB cannot be changed, a class in use cannot go, a taken u32 node is
// refused), counters that only a deletion resets, and injectable failures.
import {
  INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT, decodeFilterOptions, decodeClassOptions, decodeQdiscOptions, encodeClassOptions,
  encodeFilterOptions, encodeQdiscOptions, kernelError, majorOf, tcHandle, ETH_P,
  type ClassInfo, type ClassSpec, type FilterInfo, type FilterProtocol, type FilterSpec, type LinkInfo, type LinkRef, type QdiscInfo, type QdiscSpec,
} from '../lib/kernel/index.js';
import { stringify } from 'yaml';
import { parseConfig, type TernConfig } from '../lib/config/index.js';
import type { LinkOps, TcOps } from './kernel.js';

interface Q { ifindex: number; handle: number; parent: number; kind: string; opts: Buffer | undefined; bytes: number }
interface C { ifindex: number; classid: number; parent: number; opts: Buffer; bytes: number }
interface F { ifindex: number; parent: number; prio: number; protocol: number; handle: number; kind: string; opts: Buffer | undefined }

/** One mutation the fake kernel accepted, e.g. 'replaceQdisc wan0 7471:'. */
export type Op = string;

const reject = (errno: string): Error => new Error(`Request rejected: ${errno}`);

export class FakeKernel implements TcOps, LinkOps {
  private nextIndex = 2;
  readonly linkTable = new Map<string, LinkInfo>();
  private qd: Q[] = [];
  private cls: C[] = [];
  private flt: F[] = [];
  private readonly htids = new Map<string, number>();
  /** Mutations in order, for "nothing changed" assertions. */
  readonly ops: Op[] = [];
  /** Makes the next matching mutation fail with errno (once). */
  private failures: Array<{ match: (op: Op) => boolean; errno: string }> = [];

  constructor(links: Array<{ name: string; kind?: string | null }> = []) {
    for (const l of links) this.linkTable.set(l.name, { name: l.name, index: this.nextIndex++, kind: l.kind ?? null, up: true, mtu: 1500 });
  }

  failNext(match: (op: Op) => boolean, errno = 'EINVAL'): void {
    this.failures.push({ match, errno });
  }

  /** Traffic through a device's root qdisc, and through one class when given (counters grow). */
  traffic(dev: string, bytes: number, classid?: number): void {
    const i = this.linkTable.get(dev)?.index;
    for (const q of this.qd) if (q.ifindex === i && q.parent === TC_H_ROOT) q.bytes += bytes;
    for (const c of this.cls) if (c.ifindex === i && c.classid === classid) c.bytes += bytes;
  }

  /** A comparable picture of the whole kernel state, counters left out. */
  snapshot(): string {
    const name = (i: number): string => [...this.linkTable.values()].find((l) => l.index === i)?.name ?? `#${i}`;
    return JSON.stringify({
      links: [...this.linkTable.values()].map((l) => `${l.name}:${l.kind}:${l.up}`).sort(),
      qdiscs: this.qd.map((q) => `${name(q.ifindex)} ${q.parent.toString(16)} ${q.handle.toString(16)} ${q.kind} ${q.opts?.toString('hex')}`).sort(),
      classes: this.cls.map((c) => `${name(c.ifindex)} ${c.classid.toString(16)} ${c.parent.toString(16)} ${c.opts.toString('hex')}`).sort(),
      filters: this.flt.map((f) => `${name(f.ifindex)} ${f.parent.toString(16)} ${f.prio} ${f.protocol} ${f.handle.toString(16)} ${f.opts?.toString('hex')}`).sort(),
    });
  }

  private mutate(op: Op): void {
    const i = this.failures.findIndex((f) => f.match(op));
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw kernelError(op, reject(f!.errno));
    }
    this.ops.push(op);
  }

  private devName(ifindex: number): string {
    return [...this.linkTable.values()].find((l) => l.index === ifindex)?.name ?? `#${ifindex}`;
  }

  // ---- links ----
  async links(): Promise<LinkInfo[]> { return [...this.linkTable.values()].map((l) => ({ ...l })); }
  async link(name: string): Promise<LinkInfo | null> { const l = this.linkTable.get(name); return l ? { ...l } : null; }
  async addLink(name: string, kind: string): Promise<void> {
    this.mutate(`addLink ${name} ${kind}`);
    if (this.linkTable.has(name)) throw kernelError(`link add ${name}`, reject('EEXIST'));
    this.linkTable.set(name, { name, index: this.nextIndex++, kind, up: false, mtu: 1500 });
  }
  async setLinkUp(name: string, up: boolean): Promise<void> {
    this.mutate(`setLinkUp ${name} ${up}`);
    const l = this.linkTable.get(name);
    if (!l) throw kernelError(`link set ${name}`, reject('ENODEV'));
    l.up = up;
  }
  async deleteLink(name: string): Promise<void> {
    this.mutate(`deleteLink ${name}`);
    const l = this.linkTable.get(name);
    if (!l) throw kernelError(`link delete ${name}`, reject('ENODEV'));
    this.linkTable.delete(name);
    this.qd = this.qd.filter((q) => q.ifindex !== l.index);
    this.cls = this.cls.filter((c) => c.ifindex !== l.index);
    this.flt = this.flt.filter((f) => f.ifindex !== l.index);
  }

  // ---- qdiscs ----
  async qdiscs(dev?: LinkRef): Promise<QdiscInfo[]> {
    return this.qd.filter((q) => !dev || q.ifindex === dev.ifindex).map((q) => ({
      ifindex: q.ifindex, handle: q.handle, parent: q.parent, kind: q.kind,
      options: decodeQdiscOptions(q.kind, q.opts),
      stats: { bytes: q.bytes, packets: Math.floor(q.bytes / 1000), drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 },
    }));
  }

  /** Removes the qdisc and everything under it (classes, their leaves, filters). */
  private dropQdisc(q: Q): void {
    const major = majorOf(q.handle);
    // Children name the qdisc's major; root and ingress (ffff:ffff, ffff:fff1) are not children of ffff:.
    const mine = (h: number): boolean => h !== TC_H_ROOT && h !== TC_H_INGRESS && majorOf(h) === major;
    this.qd = this.qd.filter((x) => x !== q && !(x.ifindex === q.ifindex && mine(x.parent)));
    this.cls = this.cls.filter((c) => !(c.ifindex === q.ifindex && mine(c.classid)));
    this.flt = this.flt.filter((f) => !(f.ifindex === q.ifindex && (f.parent === q.handle || mine(f.parent))));
    for (const k of [...this.htids.keys()]) if (k.startsWith(`${q.ifindex}/${q.handle}/`)) this.htids.delete(k);
  }

  async replaceQdisc(s: QdiscSpec): Promise<void> { await this.putQdisc('replaceQdisc', s, true); }
  async addQdisc(s: QdiscSpec): Promise<void> { await this.putQdisc('addQdisc', s, false); }

  private async putQdisc(verb: string, s: QdiscSpec, replace: boolean): Promise<void> {
    const op = `${verb} ${s.dev.name} ${s.handle.toString(16)} ${s.options.kind}`;
    this.mutate(op);
    const opts = encodeQdiscOptions(s.options);
    if (!['htb', 'bfifo', 'pfifo', 'ingress', 'clsact', 'tbf', 'fq_codel', 'cake'].includes(s.options.kind)) throw kernelError(op, reject('ENOENT'));
    const same = this.qd.find((q) => q.ifindex === s.dev.ifindex && q.handle === s.handle);
    if (same) {
      if (same.kind !== s.options.kind || same.kind === 'htb') throw kernelError(op, reject('EINVAL'));
      if (!replace) throw kernelError(op, reject('EEXIST'));
      same.opts = opts;
      return;
    }
    if (s.parent !== TC_H_ROOT && s.parent !== TC_H_INGRESS && !this.cls.some((c) => c.ifindex === s.dev.ifindex && c.classid === s.parent)) throw kernelError(op, reject('ENOENT'));
    const there = this.qd.find((q) => q.ifindex === s.dev.ifindex && q.parent === s.parent);
    if (there) {
      if (!replace) throw kernelError(op, reject('EEXIST'));
      this.dropQdisc(there);
    }
    this.qd.push({ ifindex: s.dev.ifindex, handle: s.handle, parent: s.parent, kind: s.options.kind, opts, bytes: 0 });
  }

  async changeQdisc(s: QdiscSpec): Promise<void> {
    const op = `changeQdisc ${s.dev.name} ${s.handle.toString(16)} ${s.options.kind}`;
    this.mutate(op);
    const q = this.qd.find((x) => x.ifindex === s.dev.ifindex && x.handle === s.handle);
    if (!q) throw kernelError(op, reject('ENOENT'));
    if (q.kind !== s.options.kind || q.kind === 'htb') throw kernelError(op, reject('EINVAL'));
    q.opts = encodeQdiscOptions(s.options);
  }

  async deleteQdisc(dev: LinkRef, parent: number, handle = 0): Promise<boolean> {
    const q = this.qd.find((x) => x.ifindex === dev.ifindex && x.parent === parent && (!handle || x.handle === handle));
    if (!q) return false;
    this.mutate(`deleteQdisc ${dev.name} ${q.handle.toString(16)}`);
    this.dropQdisc(q);
    return true;
  }

  // ---- classes ----
  async classes(dev: LinkRef): Promise<ClassInfo[]> {
    return this.cls.filter((c) => c.ifindex === dev.ifindex).map((c) => ({
      ifindex: c.ifindex, classid: c.classid,
      // The kernel reports a top-level class under root, not under its qdisc.
      parent: (c.parent & 0xffff) === 0 ? TC_H_ROOT : c.parent,
      kind: 'htb', options: decodeClassOptions('htb', c.opts),
      stats: { bytes: c.bytes, packets: Math.floor(c.bytes / 1000), drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 },
      leaf: this.qd.find((q) => q.ifindex === c.ifindex && q.parent === c.classid)?.handle ?? 0,
    }));
  }

  async setClass(s: ClassSpec): Promise<void> {
    const op = `setClass ${s.dev.name} ${s.classid.toString(16)}`;
    this.mutate(op);
    const opts = encodeClassOptions(s.options);
    const root = this.qd.find((q) => q.ifindex === s.dev.ifindex && q.handle === tcHandle(majorOf(s.classid)) && q.kind === 'htb');
    if (!root) throw kernelError(op, reject('ENOENT'));
    const c = this.cls.find((x) => x.ifindex === s.dev.ifindex && x.classid === s.classid);
    if (c) { c.opts = opts; return; }
    if (s.parent !== root.handle && !this.cls.some((x) => x.ifindex === s.dev.ifindex && x.classid === s.parent)) throw kernelError(op, reject('ENOENT'));
    this.cls.push({ ifindex: s.dev.ifindex, classid: s.classid, parent: s.parent, opts, bytes: 0 });
  }

  async deleteClass(dev: LinkRef, classid: number): Promise<void> {
    const op = `deleteClass ${dev.name} ${classid.toString(16)}`;
    this.mutate(op);
    const c = this.cls.find((x) => x.ifindex === dev.ifindex && x.classid === classid);
    if (!c) throw kernelError(op, reject('ENOENT'));
    const inUse = this.cls.some((x) => x.ifindex === dev.ifindex && x.parent === classid)
      || this.flt.some((f) => f.ifindex === dev.ifindex && decodeFilterOptions(f.kind, f.opts)?.classid === classid);
    if (inUse) throw kernelError(op, reject('EBUSY'));
    this.cls = this.cls.filter((x) => x !== c);
    this.qd = this.qd.filter((q) => !(q.ifindex === dev.ifindex && q.parent === classid));
  }

  // ---- filters ----
  async filters(dev: LinkRef, parent: number): Promise<FilterInfo[]> {
    const out: FilterInfo[] = [];
    const prios = new Set(this.flt.filter((f) => f.ifindex === dev.ifindex && f.parent === parent).map((f) => f.prio));
    for (const prio of [...prios].sort((a, b) => a - b)) {
      const own = this.flt.filter((f) => f.ifindex === dev.ifindex && f.parent === parent && f.prio === prio);
      const ht = this.htids.get(`${dev.ifindex}/${parent}/${prio}`)!;
      // Each u32 priority lists its hash table first, as the kernel does.
      out.push({ ifindex: dev.ifindex, parent, prio, protocol: own[0]!.protocol, handle: ht, kind: 'u32', options: { kind: 'u32', keys: [], classid: null, actions: [], divisor: 1 } });
      for (const f of own.sort((a, b) => a.handle - b.handle)) {
        out.push({ ifindex: f.ifindex, parent, prio, protocol: f.protocol, handle: f.handle, kind: f.kind, options: decodeFilterOptions(f.kind, f.opts) });
      }
    }
    return out;
  }

  async addFilter(s: FilterSpec): Promise<void> {
    const op = `addFilter ${s.dev.name} ${s.parent.toString(16)} ${s.prio} ${s.handle ?? 0}`;
    this.mutate(op);
    const opts = encodeFilterOptions(s.options);
    if (!this.qd.some((q) => q.ifindex === s.dev.ifindex && (q.handle === s.parent || (s.parent === INGRESS_HANDLE && q.parent === TC_H_INGRESS)))) throw kernelError(op, reject('EINVAL'));
    const protocol = ETH_P[s.protocol as FilterProtocol];
    const key = `${s.dev.ifindex}/${s.parent}/${s.prio}`;
    const same = this.flt.filter((f) => f.ifindex === s.dev.ifindex && f.parent === s.parent && f.prio === s.prio);
    if (same.length > 0 && same[0]!.protocol !== protocol) throw kernelError(op, reject('EINVAL'));
    if (!this.htids.has(key) || same.length === 0) {
      const used = [...this.htids.entries()].filter(([k]) => k.startsWith(`${s.dev.ifindex}/${s.parent}/`)).map(([, v]) => v);
      let ht = 0x80000000;
      while (used.includes(ht)) ht += 0x00100000;
      this.htids.set(key, ht);
    }
    const handle = (this.htids.get(key)! | (s.handle ?? (same.length + 1))) >>> 0;
    if (same.some((f) => f.handle === handle)) throw kernelError(op, reject('ENOSPC'));
    this.flt.push({ ifindex: s.dev.ifindex, parent: s.parent, prio: s.prio, protocol, handle, kind: s.options.kind, opts });
  }

  async deleteFilter(dev: LinkRef, parent: number, prio: number, _protocol: FilterProtocol | number, handle = 0): Promise<void> {
    const op = `deleteFilter ${dev.name} ${parent.toString(16)} ${prio} ${handle.toString(16)}`;
    this.mutate(op);
    const before = this.flt.length;
    this.flt = this.flt.filter((f) => !(f.ifindex === dev.ifindex && f.parent === parent && f.prio === prio && (!handle || f.handle === handle)));
    if (this.flt.length === before) throw kernelError(op, reject('ENOENT'));
    if (!handle) this.htids.delete(`${dev.ifindex}/${parent}/${prio}`);
  }

  /** Name of a device by index (for readable assertions). */
  nameOf(ifindex: number): string {
    return this.devName(ifindex);
  }
}

/**
 * A valid config with one WAN 'isp' on wan0 (20 Mbit/s up, 50 down) and QoS
 * on; patch is merged into the document (objects merged, arrays replaced).
 */
export function qosConfig(patch: Record<string, unknown> = {}): TernConfig {
  const base: Record<string, unknown> = {
    version: 1,
    identity: { site: 'office', name: 'office-a' },
    wans: [{ name: 'isp', interface: 'wan0', address: '198.51.100.10/24', gateway: '198.51.100.1', upMbps: 20, downMbps: 50 }],
    lan: { interface: 'lan0', address: '10.10.0.2/24', prefixes: ['10.10.0.0/24'] },
    overlay: { address: '100.64.0.1/24' },
    qos: { enabled: true },
  };
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const old = out[k];
      out[k] = v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old)
        ? merge(old as Record<string, unknown>, v as Record<string, unknown>)
        : v;
    }
    return out;
  };
  return parseConfig(stringify(merge(base, patch))).config;
}
