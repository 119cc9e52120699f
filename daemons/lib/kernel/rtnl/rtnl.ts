// A thin typed client over the netlink package's rtnetlink: links,
// addresses, routes and policy rules of the network namespace the process
// runs in, with inputs checked before sending and replies checked on reading.
import { AttrStream, FlagsNew, parseAttributes, type rt, type ifla } from 'netlink';
import { TernError } from '../../errors.js';
import { kernelError, errnoText, hasErrno } from '../net/errno.js';
import { NetlinkClient, openRtNetlinkSocket, type NetlinkClientOptions, type RequestOpts } from '../net/netlink-client.js';
import { afOf, familyOf, formatCidr, formatIp, maskBytes, parseCidr, parseIp, type Family } from '../net/ip.js';
import type { LinkRef } from '../tc/tc.js';
import { checkIfname, checkInt, checkMtu, checkRulePriority, checkTable, checkU32 } from '../net/validate.js';

/**
 * The part of the netlink package's RtNetlinkSocket this client uses; tests
 * pass a fake that records requests and returns canned replies.
 */
export interface RtnlSocket {
  getLinks(data?: rt.Link, attrs?: ifla.LinkAttrs, opts?: RequestOpts): Promise<rt.LinkMessage[]>;
  getLink(data: rt.Link, attrs?: ifla.LinkAttrs, opts?: RequestOpts): Promise<rt.LinkMessage[]>;
  newLink(data: rt.Link, attrs?: ifla.LinkAttrs, opts?: RequestOpts): Promise<rt.LinkMessage[]>;
  setLink(data: rt.Link, attrs?: ifla.LinkAttrs, opts?: RequestOpts): Promise<rt.LinkMessage[]>;
  delLink(data: rt.Link, attrs?: ifla.LinkAttrs, opts?: RequestOpts): Promise<rt.LinkMessage[]>;
  getAddresses(data?: rt.Address, attrs?: rt.AddressAttrs, opts?: RequestOpts): Promise<rt.AddressMessage[]>;
  newAddress(data: rt.Address, attrs?: rt.AddressAttrs, opts?: RequestOpts): Promise<rt.AddressMessage[]>;
  delAddress(data: rt.Address, attrs?: rt.AddressAttrs, opts?: RequestOpts): Promise<rt.AddressMessage[]>;
  getRoutes(data?: rt.Route, attrs?: rt.RouteAttrs, opts?: RequestOpts): Promise<rt.RouteMessage[]>;
  newRoute(data: rt.Route, attrs?: rt.RouteAttrs, opts?: RequestOpts): Promise<rt.RouteMessage[]>;
  delRoute(data: rt.Route, attrs?: rt.RouteAttrs, opts?: RequestOpts): Promise<rt.RouteMessage[]>;
  getRules(data?: rt.Rule, attrs?: rt.RuleAttrs, opts?: RequestOpts): Promise<rt.RuleMessage[]>;
  newRule(data: rt.Rule, attrs?: rt.RuleAttrs, opts?: RequestOpts): Promise<rt.RuleMessage[]>;
  delRule(data: rt.Rule, attrs?: rt.RuleAttrs, opts?: RequestOpts): Promise<rt.RuleMessage[]>;
  close(): void;
}

/** The real socket, bound in the network namespace of this process. */
export function openRtnlSocket(): RtnlSocket {
  return openRtNetlinkSocket([
    'getLinks', 'getLink', 'newLink', 'setLink', 'delLink',
    'getAddresses', 'newAddress', 'delAddress',
    'getRoutes', 'newRoute', 'delRoute',
    'getRules', 'newRule', 'delRule',
  ]);
}

export interface LinkInfo {
  name: string;
  index: number;
  /** IFLA_INFO_KIND ('veth', 'bridge', 'wireguard', 'tun'...); null for links without one (physical, lo). */
  kind: string | null;
  /** Administratively up (IFF_UP). */
  up: boolean;
  mtu: number | null;
}

export interface AddressInfo {
  ifname: string;
  index: number;
  family: Family;
  /** Interface address with its prefix length, e.g. 10.1.0.1/24. */
  cidr: string;
}

export type RouteType = 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';

export interface RouteSpec {
  /** Destination prefix with host bits zero, e.g. 10.2.0.0/24, 0.0.0.0/0, 2001:db8::/64. */
  dst: string;
  table: number;
  dev?: string;
  gateway?: string;
  /** Preferred source address for traffic this box originates on the route (RTA_PREFSRC). */
  src?: string;
  /**
   * Route priority. Omitted means the kernel default: 0 for IPv4, 1024 for
   * IPv6 (the kernel rewrites 0 to 1024 there). A replace matches an
   * existing route by (table, dst, metric), so keep the metric stable.
   */
  metric?: number;
  /** Default 'unicast'; blackhole/unreachable/prohibit/throw take neither dev nor gateway. */
  type?: RouteType;
}

export interface RouteInfo {
  family: Family;
  dst: string;
  table: number;
  type: RouteType | string;
  dev: string | null;
  gateway: string | null;
  src: string | null;
  metric: number;
}

export interface RuleSpec {
  /** Needed only when neither from nor to says it. */
  family?: Family;
  priority: number;
  table: number;
  fwmark?: number;
  /** Mask for fwmark; the kernel uses 0xffffffff when omitted. */
  fwmask?: number;
  from?: string;
  to?: string;
}

export interface RuleInfo {
  family: Family;
  priority: number;
  /** 'lookup' for table rules; the kernel's action name otherwise. */
  action: string;
  table: number;
  fwmark: number | null;
  fwmask: number | null;
  from: string | null;
  to: string | null;
}

export type RtnlOptions = NetlinkClientOptions<RtnlSocket>;

const IFLA_INFO_KIND = 1;
// RTPROT_STATIC marks routes Tern installs, as opposed to boot/kernel routes.
const PROTO_STATIC = 'STATIC' as const;

const routeTypes: Record<string, RouteType> = {
  UNICAST: 'unicast', LOCAL: 'local', BROADCAST: 'broadcast', ANYCAST: 'anycast', MULTICAST: 'multicast',
  BLACKHOLE: 'blackhole', UNREACHABLE: 'unreachable', PROHIBIT: 'prohibit', THROW: 'throw',
};
const ruleActions: Record<string, string> = {
  toTbl: 'lookup', goto: 'goto', nop: 'nop', blackhole: 'blackhole', unreachable: 'unreachable', prohibit: 'prohibit',
};

/** Reads IFLA_INFO_KIND out of an IFLA_LINKINFO payload; null when absent or malformed. */
export function linkKind(linkinfo: Buffer | undefined): string | null {
  if (!linkinfo) return null;
  let kind: string | null = null;
  try {
    parseAttributes(linkinfo, (a) => {
      if (a.type === IFLA_INFO_KIND) kind = a.data.toString('latin1').replace(/\0.*$/s, '');
    });
  } catch {
    return null;
  }
  return kind;
}

/** The IFLA_LINKINFO payload that asks for a link of the given kind. */
export function linkInfoFor(kind: string): Buffer {
  const s = new AttrStream();
  s.push(IFLA_INFO_KIND, Buffer.from(`${kind}\0`, 'latin1'));
  return Buffer.concat(s.bufs);
}

const addrLen = (f: Family): number => (f === 4 ? 4 : 16);

/** The index of a LinkRef, checked: a positive int (the kernel's ifindex is an int). */
function checkLinkRef(link: LinkRef): number {
  const index = checkInt('interface index', (link as LinkRef | null)?.ifindex, 1, 0x7fffffff);
  checkIfname(link.name);
  return index;
}

const linkRefText = (link: LinkRef): string => `${String(link?.name)} (index ${String(link?.ifindex)})`;

/** The rtnetlink client. One socket per instance; call close() when done. */
export class Rtnl extends NetlinkClient<RtnlSocket> {
  constructor(opts: RtnlOptions = {}) {
    super(opts, openRtnlSocket);
  }

  private noDevice(op: string, name: string): TernError {
    return new TernError('TERN_E_KERNEL_NETLINK', `kernel: ${op}: ENODEV: ${errnoText('ENODEV')} ${name}`, {
      details: { op, errno: 'ENODEV' },
    });
  }

  private toLink(m: rt.LinkMessage): LinkInfo | undefined {
    const name = m.attrs?.ifname;
    const index = m.data?.index;
    if (typeof name !== 'string' || typeof index !== 'number' || index <= 0) {
      this.log.warn({ index }, 'kernel: links: skipping a link reply without name or index');
      return undefined;
    }
    const mtu = m.attrs.mtu;
    return { name, index, kind: linkKind(m.attrs.linkinfo), up: m.data.flags?.up === true, mtu: typeof mtu === 'number' ? mtu : null };
  }

  /** Every link of this network namespace. */
  async links(): Promise<LinkInfo[]> {
    const msgs = await this.call('link list', undefined, (s) => s.getLinks(undefined, undefined, this.opts()));
    return msgs.flatMap((m) => this.toLink(m) ?? []);
  }

  /** The link of that name, or null. */
  async link(name: string): Promise<LinkInfo | null> {
    checkIfname(name);
    try {
      const msgs = await this.serial((s) => s.getLink({}, { ifname: name }, this.opts()));
      for (const m of msgs) {
        const l = this.toLink(m);
        if (l && l.name === name) return l;
      }
      return null;
    } catch (err) {
      if (hasErrno(err, 'ENODEV')) return null;
      throw kernelError(`link get ${name}`, err);
    }
  }

  private async indexOf(op: string, name: string): Promise<number> {
    const l = await this.link(name);
    if (!l) throw this.noDevice(op, name);
    return l.index;
  }

  /** Creates a link of a kind that needs no further attributes (bridge, wireguard...). */
  async addLink(name: string, kind: string): Promise<void> {
    checkIfname(name);
    if (!/^[a-z0-9_-]{1,32}$/.test(kind)) {
      throw new TernError('TERN_E_KERNEL_ARG', `kernel: link add ${name}: got kind ${JSON.stringify(kind)}; want a link kind like 'bridge' or 'wireguard'`);
    }
    const op = `link add ${name} type ${kind}`;
    await this.call(op, undefined, (s) =>
      s.newLink({}, { ifname: name, linkinfo: linkInfoFor(kind) }, this.opts(FlagsNew.CREATE | FlagsNew.EXCL)));
    this.log.debug({ ifname: name, kind }, 'kernel: link added');
  }

  async setLinkUp(name: string, up: boolean): Promise<void> {
    const op = `link set ${name} ${up ? 'up' : 'down'}`;
    const index = await this.indexOf(op, checkIfname(name));
    await this.call(op, name, (s) => s.setLink({ index, change: { up: true }, flags: up ? { up: true } : {} }, {}, this.opts()));
    this.log.debug({ ifname: name, up }, 'kernel: link state set');
  }

  async setLinkMtu(name: string, mtu: number): Promise<void> {
    const op = `link set ${name} mtu ${mtu}`;
    checkMtu(mtu);
    const index = await this.indexOf(op, checkIfname(name));
    await this.call(op, name, (s) => s.setLink({ index }, { mtu }, this.opts()));
    this.log.debug({ ifname: name, mtu }, 'kernel: link mtu set');
  }

  async deleteLink(name: string): Promise<void> {
    const op = `link delete ${name}`;
    const index = await this.indexOf(op, checkIfname(name));
    await this.call(op, name, (s) => s.delLink({ index }, {}, this.opts()));
    this.log.debug({ ifname: name }, 'kernel: link deleted');
  }

  private async namesByIndex(): Promise<Map<number, string>> {
    return new Map((await this.links()).map((l) => [l.index, l.name]));
  }

  /** Addresses of every link, or of one. */
  async addresses(ifname?: string): Promise<AddressInfo[]> {
    if (ifname !== undefined) checkIfname(ifname);
    const names = await this.namesByIndex();
    const msgs = await this.call('address list', undefined, (s) => s.getAddresses(undefined, undefined, this.opts()));
    const out: AddressInfo[] = [];
    for (const m of msgs) {
      const family = familyOf(m.data?.family);
      const index = m.data?.index;
      const prefixlen = m.data?.prefixlen;
      if (!family || typeof index !== 'number' || typeof prefixlen !== 'number') continue;
      // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
      const bytes = family === 4 ? (m.attrs?.local ?? m.attrs?.address) : (m.attrs?.address ?? m.attrs?.local);
      const name = names.get(index);
      if (!bytes || bytes.length !== addrLen(family) || prefixlen > (family === 4 ? 32 : 128) || !name) {
        this.log.warn({ index, family }, 'kernel: address list: skipping a malformed address reply');
        continue;
      }
      if (ifname !== undefined && name !== ifname) continue;
      out.push({ ifname: name, index, family, cidr: formatCidr({ bytes, length: prefixlen }) });
    }
    return out;
  }

  /**
   * Adds an interface address, e.g. 10.1.0.1/24. Idempotent: an address
   * already present is replaced in place (NLM_F_REPLACE), never duplicated.
   * nodad skips IPv6 duplicate address detection (point-to-point overlays).
   * The link is a name (looked up first: two round trips) or a LinkRef
   * (tc's {ifindex, name}), an index the caller resolved before: one round
   * trip. A link re-created since has another index, so the add fails with
   * ENODEV and the caller resolves again.
   */
  async addAddress(link: string | LinkRef, cidr: string, opts: { nodad?: boolean } = {}): Promise<void> {
    const dev = typeof link === 'string' ? link : linkRefText(link);
    const op = `address add ${cidr} dev ${dev}`;
    const p = parseCidr(cidr);
    const index = typeof link === 'string' ? await this.indexOf(op, checkIfname(link)) : checkLinkRef(link);
    const attrs: rt.AddressAttrs = { local: p.bytes, address: p.bytes };
    if (opts.nodad && p.family === 6) attrs.flags = { nodad: true };
    await this.call(op, dev, (s) =>
      s.newAddress({ family: afOf(p.family), prefixlen: p.length, index }, attrs, this.opts(FlagsNew.CREATE | FlagsNew.REPLACE)));
    this.log.debug({ ifname: dev, cidr }, 'kernel: address set');
  }

  async deleteAddress(ifname: string, cidr: string): Promise<void> {
    const op = `address delete ${cidr} dev ${ifname}`;
    const p = parseCidr(cidr);
    const index = await this.indexOf(op, checkIfname(ifname));
    await this.call(op, ifname, (s) =>
      s.delAddress({ family: afOf(p.family), prefixlen: p.length, index }, { local: p.bytes, address: p.bytes }, this.opts()));
    this.log.debug({ ifname, cidr }, 'kernel: address deleted');
  }

  /** Routes of one table (IPv4 and IPv6, or one family). */
  async routes(table: number, family?: Family): Promise<RouteInfo[]> {
    return this.routesIn([table], family);
  }

  /**
   * Routes of several tables from one dump: a reconciler looking at many
   * path tables would otherwise dump the whole routing state once per table.
   */
  async routesIn(tables: Iterable<number>, family?: Family): Promise<RouteInfo[]> {
    const wanted = new Set([...tables].map((t) => checkTable(t)));
    const names = await this.namesByIndex();
    // Without NETLINK_GET_STRICT_CHK the kernel ignores dump filters, so the table is filtered here.
    const msgs = await this.call(`route list table ${[...wanted].join(',')}`, undefined, (s) =>
      s.getRoutes(family ? { family: afOf(family) } : undefined, undefined, this.opts()));
    const out: RouteInfo[] = [];
    for (const m of msgs) {
      const r = this.toRoute(m, names);
      if (r && wanted.has(r.table) && (!family || r.family === family)) out.push(r);
    }
    return out;
  }


  private toRoute(m: rt.RouteMessage, names: Map<number, string>): RouteInfo | undefined {
    const family = familyOf(m.data?.family);
    if (!family || m.data.flags?.cloned) return undefined;
    const len = m.data.dstLen ?? 0;
    const dst = m.attrs?.dst ?? Buffer.alloc(addrLen(family));
    const gw = m.attrs?.gateway;
    const src = m.attrs?.prefsrc;
    if (dst.length !== addrLen(family) || len > (family === 4 ? 32 : 128) || (gw && gw.length !== addrLen(family)) || (src && src.length !== addrLen(family))) {
      this.log.warn({ family, len }, 'kernel: route list: skipping a malformed route reply');
      return undefined;
    }
    const table = typeof m.attrs.table === 'number' ? m.attrs.table : (m.data.table ?? 0);
    const oif = m.attrs.oif;
    const t = m.data.type;
    return {
      family,
      dst: formatCidr({ bytes: dst, length: len }),
      table,
      type: typeof t === 'string' ? (routeTypes[t] ?? t.toLowerCase()) : String(t),
      dev: typeof oif === 'number' ? (names.get(oif) ?? null) : null,
      gateway: gw ? formatIp(gw) : null,
      src: src ? formatIp(src) : null,
      metric: typeof m.attrs.priority === 'number' ? m.attrs.priority : 0,
    };
  }

  private routeMessage(op: string, spec: RouteSpec, del: boolean): { data: rt.Route; attrs: rt.RouteAttrs; dev?: string } {
    if (!spec || typeof spec !== 'object') throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got no route; want a route spec`);
    const dst = parseCidr(spec.dst, { network: true });
    const table = checkTable(spec.table);
    const type = spec.type ?? 'unicast';
    const typeKey = Object.keys(routeTypes).find((k) => routeTypes[k] === type);
    if (!typeKey) throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got route type ${JSON.stringify(type)}; want one of ${Object.values(routeTypes).join(', ')}`);
    const attrs: rt.RouteAttrs = { table };
    if (dst.length > 0) attrs.dst = dst.bytes;
    if (spec.metric !== undefined) attrs.priority = checkU32('route metric', spec.metric);
    if (spec.gateway !== undefined) {
      const gw = parseIp(spec.gateway);
      if (gw.family !== dst.family) {
        throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got gateway ${spec.gateway}; want an IPv${dst.family} gateway for an IPv${dst.family} destination`);
      }
      attrs.gateway = gw.bytes;
    }
    if (spec.src !== undefined) {
      const src = parseIp(spec.src);
      if (src.family !== dst.family) {
        throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got src ${spec.src}; want an IPv${dst.family} source for an IPv${dst.family} destination`);
      }
      attrs.prefsrc = src.bytes;
    }
    if (spec.dev !== undefined) checkIfname(spec.dev);
    const forwarding = type === 'unicast';
    if (!del && forwarding && spec.dev === undefined && spec.gateway === undefined) {
      throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got a unicast route without dev or gateway; want at least one`);
    }
    if (!forwarding && type !== 'local' && (spec.dev !== undefined || spec.gateway !== undefined)) {
      throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got dev or gateway on a ${type} route; want neither`);
    }
    const data: rt.Route = {
      family: afOf(dst.family),
      dstLen: dst.length,
      // Tables above 255 travel only in RTA_TABLE; the header byte says UNSPEC then.
      table: table < 256 ? table : 0,
      // A delete matches any protocol, scope and type unless told (0, NOWHERE, UNSPEC).
      protocol: del ? (0 as rt.RouteProtocol) : PROTO_STATIC,
      scope: del ? 'NOWHERE' : (forwarding && spec.gateway === undefined && dst.family === 4 ? 'LINK' : 'UNIVERSE'),
      type: del && spec.type === undefined ? 0 : (typeKey as keyof typeof rt.RouteType),
    };
    return spec.dev === undefined ? { data, attrs } : { data, attrs, dev: spec.dev };
  }

  private static routeText(spec: RouteSpec): string {
    return `${spec?.dst} table ${spec?.table}`;
  }

  /**
   * Installs a route, replacing the one with the same (table, dst, metric)
   * if present (NLM_F_CREATE|NLM_F_REPLACE), so reconciling twice is a no-op.
   */
  async replaceRoute(spec: RouteSpec): Promise<void> {
    const op = `route replace ${Rtnl.routeText(spec)}`;
    const m = this.routeMessage(op, spec, false);
    if (m.dev !== undefined) m.attrs.oif = await this.indexOf(op, m.dev);
    await this.call(op, m.dev, (s) => s.newRoute(m.data, m.attrs, this.opts(FlagsNew.CREATE | FlagsNew.REPLACE)));
    this.log.debug({ route: spec }, 'kernel: route replaced');
  }

  /** Deletes a route; dev, gateway and metric narrow the match when given. */
  async deleteRoute(spec: RouteSpec): Promise<void> {
    const op = `route delete ${Rtnl.routeText(spec)}`;
    const m = this.routeMessage(op, spec, true);
    if (m.dev !== undefined) m.attrs.oif = await this.indexOf(op, m.dev);
    await this.call(op, m.dev, (s) => s.delRoute(m.data, m.attrs, this.opts()));
    this.log.debug({ route: spec }, 'kernel: route deleted');
  }

  /** Policy rules (IPv4 and IPv6, or one family), in kernel order. */
  async rules(family?: Family): Promise<RuleInfo[]> {
    const msgs = await this.call('rule list', undefined, (s) =>
      s.getRules(family ? { family: afOf(family) } : undefined, undefined, this.opts()));
    const out: RuleInfo[] = [];
    for (const m of msgs) {
      const f = familyOf(m.data?.family);
      if (!f || (family && f !== family)) continue;
      const a = m.attrs ?? {};
      const sel = (bytes: Buffer | undefined, len: number | undefined): string | null | undefined => {
        if (!len) return null;
        if (!bytes || bytes.length !== addrLen(f) || len > (f === 4 ? 32 : 128)) return undefined;
        return formatCidr({ bytes: maskBytes(bytes, len), length: len });
      };
      const from = sel(a.src, m.data.srcLen);
      const to = sel(a.dst, m.data.dstLen);
      if (from === undefined || to === undefined) {
        this.log.warn({ family: f }, 'kernel: rule list: skipping a malformed rule reply');
        continue;
      }
      const action = m.data.action;
      out.push({
        family: f,
        priority: typeof a.priority === 'number' ? a.priority : 0,
        action: typeof action === 'string' ? (ruleActions[action] ?? action) : String(action ?? 'unspec'),
        table: typeof a.table === 'number' ? a.table : (m.data.table ?? 0),
        fwmark: typeof a.fwmark === 'number' ? a.fwmark : null,
        fwmask: typeof a.fwmask === 'number' ? a.fwmask : null,
        from,
        to,
      });
    }
    return out;
  }

  private ruleMessage(op: string, spec: RuleSpec): { data: rt.Rule; attrs: rt.RuleAttrs } {
    if (!spec || typeof spec !== 'object') throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got no rule; want a rule spec`);
    const priority = checkRulePriority(spec.priority);
    const table = checkTable(spec.table);
    const from = spec.from === undefined ? undefined : parseCidr(spec.from, { network: true });
    const to = spec.to === undefined ? undefined : parseCidr(spec.to, { network: true });
    const families = new Set([spec.family, from?.family, to?.family].filter((f) => f !== undefined));
    if (families.size !== 1 || ![...families].every((f) => f === 4 || f === 6)) {
      throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got families ${JSON.stringify([...families])}; want exactly one of 4 or 6 (set family, or from/to of one family)`);
    }
    const family = [...families][0] as Family;
    const attrs: rt.RuleAttrs = { priority, table };
    if (spec.fwmark !== undefined) attrs.fwmark = checkU32('rule fwmark', spec.fwmark);
    if (spec.fwmask !== undefined) {
      if (spec.fwmark === undefined) throw new TernError('TERN_E_KERNEL_ARG', `kernel: ${op}: got fwmask without fwmark; want both or neither`);
      attrs.fwmask = checkU32('rule fwmask', spec.fwmask);
    }
    if (from) attrs.src = from.bytes;
    if (to) attrs.dst = to.bytes;
    const data: rt.Rule = {
      family: afOf(family),
      srcLen: from?.length ?? 0,
      dstLen: to?.length ?? 0,
      table: table < 256 ? table : 0,
      action: 'toTbl',
    };
    return { data, attrs };
  }

  private static ruleText(spec: RuleSpec): string {
    const parts = [`priority ${spec?.priority}`];
    if (spec?.from !== undefined) parts.push(`from ${spec.from}`);
    if (spec?.to !== undefined) parts.push(`to ${spec.to}`);
    if (spec?.fwmark !== undefined) parts.push(`fwmark 0x${Number(spec.fwmark).toString(16)}${spec.fwmask !== undefined ? `/0x${Number(spec.fwmask).toString(16)}` : ''}`);
    parts.push(`table ${spec?.table}`);
    return parts.join(' ');
  }

  /**
   * Adds a `lookup table` rule. Idempotent: the kernel only de-duplicates
   * rules when asked with NLM_F_EXCL, so the request carries it and an
   * identical existing rule (EEXIST) counts as done. Returns whether a rule
   * was added.
   */
  async addRule(spec: RuleSpec): Promise<boolean> {
    const op = `rule add ${Rtnl.ruleText(spec)}`;
    const m = this.ruleMessage(op, spec);
    try {
      await this.serial((s) => s.newRule(m.data, m.attrs, this.opts(FlagsNew.CREATE | FlagsNew.EXCL)));
    } catch (err) {
      if (hasErrno(err, 'EEXIST')) return false;
      throw kernelError(op, err);
    }
    this.log.debug({ rule: spec }, 'kernel: rule added');
    return true;
  }

  /** Deletes the rule matching every field of spec. */
  async deleteRule(spec: RuleSpec): Promise<void> {
    const op = `rule delete ${Rtnl.ruleText(spec)}`;
    const m = this.ruleMessage(op, spec);
    await this.call(op, undefined, (s) => s.delRule(m.data, m.attrs, this.opts()));
    this.log.debug({ rule: spec }, 'kernel: rule deleted');
  }
}
