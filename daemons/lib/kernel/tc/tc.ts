// A typed traffic-control client over the netlink package's rtnetlink:
// qdiscs, classes and filters of the network namespace the process runs in,
// with options built and read as bytes here (options.ts, filter.ts).
import { FlagsNew, type rt } from 'netlink';
import { TernError } from '../../errors.js';
import { kernelError, hasErrno } from '../net/errno.js';
import { NetlinkClient, openRtNetlinkSocket, type NetlinkClientOptions, type RequestOpts } from '../net/netlink-client.js';
import { decodeFilterOptions, encodeFilterOptions, filterInfo, parseFilterInfo, protocolName, type FilterOptions, type FilterProtocol, type U32Info } from './filter.js';
import { formatHandle, formatU32Handle } from './handle.js';
import {
  decodeClassOptions, decodeQdiscOptions, encodeClassOptions, encodeQdiscOptions,
  type ClassOptions, type QdiscOptions,
} from './options.js';
import { parseCakeTins, parseStats2, type CakeTinStats, type TcStats } from './stats.js';

/** The part of RtNetlinkSocket tc needs; tests pass a fake that records requests. */
export interface TcSocket {
  newQdisc(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  delQdisc(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  getQdiscs(data?: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  newTrafficClass(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  delTrafficClass(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  getTrafficClasses(data?: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  newTrafficFilter(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  delTrafficFilter(data: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  getTrafficFilters(data?: rt.Tc, attrs?: rt.TcAttrs, opts?: RequestOpts): Promise<rt.TcMessage[]>;
  close(): void;
}

/** The real socket, bound in the network namespace of this process. */
export function openTcSocket(): TcSocket {
  return openRtNetlinkSocket([
    'newQdisc', 'delQdisc', 'getQdiscs',
    'newTrafficClass', 'delTrafficClass', 'getTrafficClasses',
    'newTrafficFilter', 'delTrafficFilter', 'getTrafficFilters',
  ]);
}

/** A device by index (what the kernel takes) and name (what messages say). */
export interface LinkRef {
  ifindex: number;
  name: string;
}

export interface QdiscSpec {
  dev: LinkRef;
  /** TC_H_ROOT, TC_H_INGRESS or a class handle. */
  parent: number;
  handle: number;
  options: QdiscOptions;
}

export interface ClassSpec {
  dev: LinkRef;
  classid: number;
  /** The qdisc handle (major:0) or the parent class. */
  parent: number;
  options: ClassOptions;
}

export interface FilterSpec {
  dev: LinkRef;
  /** The qdisc (or class) the filter hangs off, e.g. 7471: or ffff: (ingress). */
  parent: number;
  prio: number;
  protocol: FilterProtocol;
  /** u32: the node number in the priority's hash table (u32Node); omitted = the kernel picks. */
  handle?: number;
  options: FilterOptions;
}

export interface QdiscInfo {
  ifindex: number;
  handle: number;
  parent: number;
  kind: string;
  /** Decoded options; null for kinds this package does not read. */
  options: QdiscOptions | null;
  stats: TcStats | null;
  /** cake only: the counters of each tin. */
  tins?: CakeTinStats[];
}

export interface ClassInfo {
  ifindex: number;
  classid: number;
  parent: number;
  kind: string;
  options: ClassOptions | null;
  stats: TcStats | null;
  /** Handle of the qdisc under this class (HTB leaves), 0 for none. */
  leaf: number;
}

export interface FilterInfo {
  ifindex: number;
  parent: number;
  prio: number;
  /** EtherType, e.g. 0x0800. */
  protocol: number;
  /** As the kernel reports it (for u32: htid:hash:node). */
  handle: number;
  kind: string;
  options: U32Info | null;
}

export type TcOptions = NetlinkClientOptions<TcSocket>;

function checkDev(op: string, dev: LinkRef | undefined): LinkRef {
  if (!dev || !Number.isInteger(dev.ifindex) || dev.ifindex < 1 || dev.ifindex > 0x7fffffff || typeof dev.name !== 'string') {
    throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got device ${JSON.stringify(dev)}; want {ifindex, name} of an existing link`);
  }
  return dev;
}

function checkHandle(op: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got ${what} ${JSON.stringify(v)}; want a u32 tc handle`);
  }
  return v;
}

/** The tc client. One socket per instance; call close() when done. */
export class Tc extends NetlinkClient<TcSocket> {
  constructor(opts: TcOptions = {}) {
    super(opts, openTcSocket);
  }

  /** Qdiscs of one device, or of every device. */
  async qdiscs(dev?: LinkRef): Promise<QdiscInfo[]> {
    const op = dev ? `qdisc show dev ${checkDev('qdisc show', dev).name}` : 'qdisc show';
    const msgs = await this.call(op, dev?.name, (s) => s.getQdiscs(dev ? { ifindex: dev.ifindex } : {}, undefined, this.opts()));
    const out: QdiscInfo[] = [];
    for (const m of msgs) {
      const d = m.data ?? {};
      // The kernel ignores the index in a qdisc dump request, so filter here.
      if (dev && d.ifindex !== dev.ifindex) continue;
      const kind = m.attrs?.kind;
      if (typeof kind !== 'string' || typeof d.ifindex !== 'number') continue;
      const q: QdiscInfo = {
        ifindex: d.ifindex,
        handle: d.handle ?? 0,
        parent: d.parent ?? 0,
        kind,
        options: this.decode(op, () => decodeQdiscOptions(kind, m.attrs.options)),
        stats: this.decode(op, () => parseStats2(m.attrs.stats2)),
      };
      if (kind === 'cake') q.tins = this.decode(op, () => parseCakeTins(m.attrs.stats2)) ?? [];
      out.push(q);
    }
    return out;
  }

  /** Classes of one device (class dumps always name a device). */
  async classes(dev: LinkRef): Promise<ClassInfo[]> {
    const op = `class show dev ${checkDev('class show', dev).name}`;
    const msgs = await this.call(op, dev.name, (s) => s.getTrafficClasses({ ifindex: dev.ifindex }, undefined, this.opts()));
    const out: ClassInfo[] = [];
    for (const m of msgs) {
      const d = m.data ?? {};
      const kind = m.attrs?.kind;
      if (d.ifindex !== dev.ifindex || typeof kind !== 'string') continue;
      out.push({
        ifindex: dev.ifindex,
        classid: d.handle ?? 0,
        parent: d.parent ?? 0,
        kind,
        options: this.decode(op, () => decodeClassOptions(kind, m.attrs.options)),
        stats: this.decode(op, () => parseStats2(m.attrs.stats2)),
        leaf: d.info ?? 0,
      });
    }
    return out;
  }

  /**
   * Filters attached to parent on one device. The kernel also lists each
   * priority itself (handle 0) and, for u32, its hash tables; only filters
   * with options come back here, hash tables flagged by options.divisor.
   */
  async filters(dev: LinkRef, parent: number): Promise<FilterInfo[]> {
    const op = `filter show dev ${checkDev('filter show', dev).name} parent ${formatHandle(checkHandle('filter show', 'parent', parent))}`;
    const msgs = await this.call(op, dev.name, (s) => s.getTrafficFilters({ ifindex: dev.ifindex, parent }, undefined, this.opts()));
    const out: FilterInfo[] = [];
    for (const m of msgs) {
      const d = m.data ?? {};
      const kind = m.attrs?.kind;
      if (d.ifindex !== dev.ifindex || typeof kind !== 'string' || !d.handle) continue;
      const { prio, protocol } = parseFilterInfo(d.info ?? 0);
      out.push({
        ifindex: dev.ifindex,
        parent: d.parent ?? parent,
        prio,
        protocol,
        handle: d.handle,
        kind,
        options: this.decode(op, () => decodeFilterOptions(kind, m.attrs.options)),
      });
    }
    return out;
  }

  /** A reply the kernel sent but this package cannot read is logged and read as null, never fatal. */
  private decode<T>(op: string, fn: () => T | null): T | null {
    try {
      return fn();
    } catch (err) {
      this.log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'kernel: tc: skipping options that could not be read');
      return null;
    }
  }

  private static qdiscText(verb: string, s: QdiscSpec): string {
    const where = s.parent === 0xffffffff ? 'root' : s.parent === 0xfffffff1 ? 'ingress' : `parent ${formatHandle(s.parent)}`;
    return `qdisc ${verb} dev ${s.dev?.name} ${where} handle ${formatHandle(s.handle ?? 0)} ${s.options?.kind}`;
  }

  private qdiscMessage(op: string, s: QdiscSpec): { data: rt.Tc; attrs: rt.TcAttrs } {
    checkDev(op, s?.dev);
    const parent = checkHandle(op, 'parent', s.parent);
    const handle = checkHandle(op, 'handle', s.handle);
    const options = encodeQdiscOptions(s.options);
    const attrs: rt.TcAttrs = { kind: s.options.kind };
    if (options) attrs.options = options;
    return { data: { ifindex: s.dev.ifindex, parent, handle }, attrs };
  }

  /**
   * Creates the qdisc, or replaces what sits at parent. A qdisc of the same
   * kind and handle is changed in place (its counters keep counting);
   * anything else there is destroyed with its children.
   */
  async replaceQdisc(s: QdiscSpec): Promise<void> {
    const op = Tc.qdiscText('replace', s);
    const m = this.qdiscMessage(op, s);
    await this.call(op, s.dev.name, (k) => k.newQdisc(m.data, m.attrs, this.opts(FlagsNew.CREATE | FlagsNew.REPLACE)));
    this.log.debug({ op }, 'kernel: tc qdisc replaced');
  }

  /** Changes the options of an existing qdisc in place (ENOENT when it is not there). */
  async changeQdisc(s: QdiscSpec): Promise<void> {
    const op = Tc.qdiscText('change', s);
    const m = this.qdiscMessage(op, s);
    await this.call(op, s.dev.name, (k) => k.newQdisc(m.data, m.attrs, this.opts()));
    this.log.debug({ op }, 'kernel: tc qdisc changed');
  }

  /** Adds a qdisc; EEXIST when one is already there. */
  async addQdisc(s: QdiscSpec): Promise<void> {
    const op = Tc.qdiscText('add', s);
    const m = this.qdiscMessage(op, s);
    await this.call(op, s.dev.name, (k) => k.newQdisc(m.data, m.attrs, this.opts(FlagsNew.CREATE | FlagsNew.EXCL)));
    this.log.debug({ op }, 'kernel: tc qdisc added');
  }

  /** Deletes the qdisc at parent (and everything under it). Returns false when none was there. */
  async deleteQdisc(dev: LinkRef, parent: number, handle = 0): Promise<boolean> {
    const op = `qdisc delete dev ${checkDev('qdisc delete', dev).name} ${parent === 0xffffffff ? 'root' : parent === 0xfffffff1 ? 'ingress' : `parent ${formatHandle(parent)}`}`;
    checkHandle(op, 'parent', parent);
    checkHandle(op, 'handle', handle);
    try {
      await this.serial((k) => k.delQdisc({ ifindex: dev.ifindex, parent, handle }, {}, this.opts()));
    } catch (err) {
      // ENOENT: nothing there; EINVAL: the default qdisc of a device (noqueue, pfifo_fast) cannot be deleted.
      if (hasErrno(err, 'ENOENT') || hasErrno(err, 'EINVAL')) return false;
      throw kernelError(op, err, { subject: dev.name });
    }
    this.log.debug({ op }, 'kernel: tc qdisc deleted');
    return true;
  }

  /** Creates the class or changes it in place (counters kept). */
  async setClass(s: ClassSpec): Promise<void> {
    const op = `class set dev ${s?.dev?.name} parent ${formatHandle(s?.parent ?? 0)} classid ${formatHandle(s?.classid ?? 0)} ${s?.options?.kind}`;
    checkDev(op, s?.dev);
    const parent = checkHandle(op, 'parent', s.parent);
    const classid = checkHandle(op, 'classid', s.classid);
    const options = encodeClassOptions(s.options);
    await this.call(op, s.dev.name, (k) =>
      k.newTrafficClass({ ifindex: s.dev.ifindex, parent, handle: classid }, { kind: s.options.kind, options }, this.opts(FlagsNew.CREATE)));
    this.log.debug({ op }, 'kernel: tc class set');
  }

  async deleteClass(dev: LinkRef, classid: number): Promise<void> {
    const op = `class delete dev ${checkDev('class delete', dev).name} classid ${formatHandle(checkHandle('class delete', 'classid', classid))}`;
    await this.call(op, dev.name, (k) => k.delTrafficClass({ ifindex: dev.ifindex, handle: classid }, {}, this.opts()));
    this.log.debug({ op }, 'kernel: tc class deleted');
  }

  /** Adds a filter; EEXIST when its handle is taken. */
  async addFilter(s: FilterSpec): Promise<void> {
    const op = `filter add dev ${s?.dev?.name} parent ${formatHandle(s?.parent ?? 0)} prio ${s?.prio} protocol ${s?.protocol}${s?.handle ? ` handle ${formatU32Handle(s.handle)}` : ''} ${s?.options?.kind}`;
    checkDev(op, s?.dev);
    const parent = checkHandle(op, 'parent', s.parent);
    const info = filterInfo(s.prio, s.protocol);
    const handle = s.handle === undefined ? 0 : checkHandle(op, 'handle', s.handle);
    const options = encodeFilterOptions(s.options);
    await this.call(op, s.dev.name, (k) =>
      k.newTrafficFilter({ ifindex: s.dev.ifindex, parent, handle, info }, { kind: s.options.kind, options }, this.opts(FlagsNew.CREATE | FlagsNew.EXCL)));
    this.log.debug({ op }, 'kernel: tc filter added');
  }

  /**
   * Deletes one filter (handle as dumped) or, with handle 0, the whole
   * priority. protocol is the EtherType number or name the filter has.
   */
  async deleteFilter(dev: LinkRef, parent: number, prio: number, protocol: FilterProtocol | number, handle = 0): Promise<void> {
    const proto: FilterProtocol | undefined = typeof protocol === 'number'
      ? (protocolName(protocol) as FilterProtocol)
      : protocol;
    const op = `filter delete dev ${checkDev('filter delete', dev).name} parent ${formatHandle(parent)} prio ${prio} protocol ${proto}${handle ? ` handle ${formatU32Handle(handle)}` : ''}`;
    checkHandle(op, 'parent', parent);
    const info = filterInfo(prio, proto);
    await this.call(op, dev.name, (k) => k.delTrafficFilter({ ifindex: dev.ifindex, parent, handle: checkHandle(op, 'handle', handle), info }, {}, this.opts()));
    this.log.debug({ op }, 'kernel: tc filter deleted');
  }
}
