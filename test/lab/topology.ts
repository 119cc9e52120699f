// The lab's network described as data: nodes (appliances, routers, hosts,
// switches), the veth links between their interfaces with addresses, static
// routes, and the sites; plus defaultTopology(), the network of Tern's first
// users.
import { TernError } from '../../daemons/lib/errors.js';

/**
 * appliance: a Tern box (forwards, runs the daemons, gets etc/run/state
 * directories); router: an ISP or internet core router (forwards, carries
 * impairments); host: an end system; switch: a namespace holding one Linux
 * bridge (br0) that every link end on it is a port of.
 */
export type NodeRole = 'appliance' | 'router' | 'host' | 'switch';

export interface LabNode {
  /** Namespace suffix and, on routers, the name of interfaces towards it: [a-z][a-z0-9]*, at most 15. */
  name: string;
  role: NodeRole;
  /** The site an appliance or LAN host belongs to. */
  site?: string;
  /** One line for people (shown by `cli up`). */
  description: string;
}

/** One end of a veth pair. */
export interface LinkEnd {
  node: string;
  /** Interface name inside the node's namespace (at most 15 characters). */
  ifname: string;
  /** IPv4 address with prefix length; none on switch ports. */
  address?: string;
}

/**
 * wan: an appliance's (or remote host's) uplink to its ISP; lan: inside a
 * site, or the internet's server segment behind the core; transit: between
 * internet routers.
 */
export type LinkUse = 'wan' | 'lan' | 'transit';

export interface LabLink {
  /** The customer (downstream) end. */
  a: LinkEnd;
  /** The provider (upstream) end: the ISP on a WAN link, the switch or appliance on a LAN link. */
  b: LinkEnd;
  use: LinkUse;
  /**
   * On appliance WAN links: the WAN's name in tern.yaml, the plan's nominal
   * bandwidth, and for a volume-billed link (LTE) metered and its cost
   * (tern.yaml's keys; absent: unmetered at the schema's default cost).
   */
  wan?: { name: string; upMbps: number; downMbps: number; metered?: boolean; cost?: number };
}

/** A static route in one node; `to` is a prefix or 'default'. */
export interface LabRoute {
  node: string;
  to: string;
  via: string;
}

export interface LabSite {
  name: string;
  /** Appliances of the site; two of them form a PAIR. */
  appliances: string[];
  /** LAN hosts (and servers) of the site. */
  hosts: string[];
  /** The site's LAN prefix. */
  lanPrefix: string;
  /** The PAIR's gateway address (with prefix length), when the site has two appliances. */
  vip?: string;
  /** The site's overlay address with the overlay prefix length. */
  overlayAddress: string;
  /**
   * Where the site's remote users get their addresses. Other sites route it
   * to this site like a LAN prefix, so users reach every site's LAN.
   */
  remoteUserPrefix?: string;
}

/** A remote-access user, whose client runs on a host node. */
export interface LabRemoteUser {
  name: string;
  /** The host node the user's WireGuard client runs on. */
  node: string;
  /** The site whose appliances accept the user. */
  site: string;
  /** The user's overlay address, a /32. */
  address: string;
}

/** What a server on the internet runs (test/lab/internet.ts starts them). */
export type LabService = 'http' | 'iperf3' | 'dns';

/** A server on the internet side: a host node with one address. */
export interface LabServer {
  node: string;
  /**
   * http: TCP 80, answers with the server's name and the client's source
   * address as it arrived; iperf3: `iperf3 -s` on TCP 5201; dns: authoritative
   * for the internet's zone on UDP and TCP 53.
   */
  services: LabService[];
  /** Names in the zone that resolve to the server's address: "saas1", "*.cdn" (the zone is appended). */
  names: string[];
}

/** The internet's servers and the DNS zone they live in. */
export interface LabInternet {
  /** The zone the dns server is authoritative for: under RFC 6761's .test, so it can never leak into real DNS. */
  zone: string;
  /** TTL of every record in seconds: short, so addresses learned from DNS expire within a test. */
  ttl: number;
  servers: LabServer[];
}

export interface Topology {
  name: string;
  nodes: LabNode[];
  links: LabLink[];
  routes: LabRoute[];
  sites: LabSite[];
  remoteUsers: LabRemoteUser[];
  /** Servers behind the core; none when absent. */
  internet?: LabInternet;
}

// ---------------------------------------------------------------------------
// IPv4 arithmetic: enough for the lab's address plan.

/** An IPv4 address (as a 32-bit number) with a prefix length. */
export interface Cidr {
  addr: number;
  len: number;
}

export function ipToNum(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function numToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(text: string): Cidr | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const addr = ipToNum(m[1]!);
  const len = Number(m[2]);
  if (addr === undefined || len > 32) return undefined;
  return { addr, len };
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** The network address of a CIDR. */
export function networkOf(c: Cidr): number {
  return (c.addr & mask(c.len)) >>> 0;
}

/** The prefix text ("198.18.1.0/30") of an interface address ("198.18.1.2/30"). */
export function prefixOf(address: string): string {
  const c = parseCidr(address);
  if (!c) throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: topology: ${address} is not an IPv4 address with prefix length`);
  return `${numToIp(networkOf(c))}/${c.len}`;
}

/** The address part of "198.18.1.2/30". */
export function hostOf(address: string): string {
  return address.split('/')[0]!;
}

/** True when ip (plain address) lies inside prefix ("10.1.0.0/24"). */
export function prefixContains(prefix: string, ip: string): boolean {
  const c = parseCidr(prefix);
  const n = ipToNum(ip);
  if (!c || n === undefined) return false;
  return ((n & mask(c.len)) >>> 0) === networkOf(c);
}

// ---------------------------------------------------------------------------
// Questions the lab and config writer ask of a topology.

export function findNode(topo: Topology, name: string): LabNode | undefined {
  return topo.nodes.find((n) => n.name === name);
}

/** Every link end on a node, with its link and the end at the other side. */
export function endsOf(topo: Topology, node: string): { link: LabLink; end: LinkEnd; peer: LinkEnd }[] {
  const out: { link: LabLink; end: LinkEnd; peer: LinkEnd }[] = [];
  for (const link of topo.links) {
    if (link.a.node === node) out.push({ link, end: link.a, peer: link.b });
    if (link.b.node === node) out.push({ link, end: link.b, peer: link.a });
  }
  return out;
}

/** The link end named "node:ifname", with its link and peer end. */
export function findEnd(topo: Topology, id: string): { link: LabLink; end: LinkEnd; peer: LinkEnd } | undefined {
  const [node, ifname] = id.split(':');
  return endsOf(topo, node ?? '').find((e) => e.end.ifname === ifname);
}

/** "node:ifname" of an end. */
export function endId(end: LinkEnd): string {
  return `${end.node}:${end.ifname}`;
}

/** Interface addresses of a node. */
export function addressesOf(topo: Topology, node: string): string[] {
  return endsOf(topo, node).flatMap((e) => (e.end.address ? [e.end.address] : []));
}

/** An appliance WAN as tern.yaml and the lab see it. */
export interface ApplianceWan {
  name: string;
  ifname: string;
  address: string;
  gateway: string;
  /** The ISP router at the other end. */
  isp: string;
  upMbps: number;
  downMbps: number;
  /** Billed by volume (tern.yaml `metered`); false when the link says nothing. */
  metered: boolean;
  /** tern.yaml `cost`, when the link sets one. */
  cost?: number;
}

export function applianceWans(topo: Topology, node: string): ApplianceWan[] {
  return endsOf(topo, node)
    .filter((e) => e.link.use === 'wan' && e.link.a.node === node && e.end.address && e.peer.address)
    .map((e) => ({
      name: e.link.wan?.name ?? e.end.ifname,
      ifname: e.end.ifname,
      address: e.end.address!,
      gateway: hostOf(e.peer.address!),
      isp: e.peer.node,
      upMbps: e.link.wan?.upMbps ?? 100,
      downMbps: e.link.wan?.downMbps ?? 100,
      metered: e.link.wan?.metered ?? false,
      ...(e.link.wan?.cost !== undefined ? { cost: e.link.wan.cost } : {}),
    }));
}

/** The appliance's LAN end, if it has one. */
export function applianceLan(topo: Topology, node: string): LinkEnd | undefined {
  return endsOf(topo, node).find((e) => e.link.use === 'lan' && e.end.address)?.end;
}

export function siteOf(topo: Topology, node: string): LabSite | undefined {
  return topo.sites.find((s) => s.appliances.includes(node) || s.hosts.includes(node));
}

// ---------------------------------------------------------------------------
// Validation: everything Lab.up relies on, checked before anything is built.

const nodeNamePattern = /^[a-z][a-z0-9]{0,14}$/;
const ifnamePattern = /^[a-z][a-z0-9_-]{0,14}$/;
/** Interface names the lab itself uses inside namespaces (bridge, delay TUNs, IFBs). */
const reservedIfname = /^(lo|br0|dly\d+|rin\d+)$/;

function bad(msg: string): TernError {
  return new TernError('TERN_E_LAB_TOPOLOGY', `lab: topology: ${msg}`);
}

function checkHostAddress(where: string, address: string): Cidr {
  const c = parseCidr(address);
  if (!c) throw bad(`${where}: address ${JSON.stringify(address)} is not an IPv4 address with prefix length (like 198.18.1.2/30)`);
  if (c.len < 31 && (c.addr === networkOf(c) || c.addr === (networkOf(c) | ~mask(c.len)) >>> 0)) {
    throw bad(`${where}: address ${address} is the network or broadcast address of its prefix; want a host address`);
  }
  return c;
}

function checkPrefix(where: string, prefix: string): void {
  const c = parseCidr(prefix);
  if (!c) throw bad(`${where}: ${JSON.stringify(prefix)} is not an IPv4 prefix (like 10.1.0.0/24)`);
  if (networkOf(c) !== c.addr) throw bad(`${where}: ${prefix} has host bits set; want ${numToIp(networkOf(c))}/${c.len}`);
}

/** Throws TERN_E_LAB_TOPOLOGY naming the first problem found. */
export function validateTopology(topo: Topology): void {
  const names = new Set<string>();
  for (const n of topo.nodes) {
    if (!nodeNamePattern.test(n.name)) throw bad(`node ${JSON.stringify(n.name)}: name must match ${nodeNamePattern}`);
    if (names.has(n.name)) throw bad(`node ${n.name}: duplicate name`);
    if (!['appliance', 'router', 'host', 'switch'].includes(n.role)) throw bad(`node ${n.name}: role ${JSON.stringify(n.role)}; want appliance, router, host or switch`);
    names.add(n.name);
  }
  const ifnames = new Set<string>();
  const addresses = new Map<string, string>();
  for (const [i, link] of topo.links.entries()) {
    if (!['wan', 'lan', 'transit'].includes(link.use)) throw bad(`link ${i}: use ${JSON.stringify(link.use)}; want wan, lan or transit`);
    for (const end of [link.a, link.b]) {
      const where = `link ${i} end ${end.node}:${end.ifname}`;
      const node = findNode(topo, end.node);
      if (!node) throw bad(`${where}: unknown node ${JSON.stringify(end.node)}`);
      if (!ifnamePattern.test(end.ifname)) throw bad(`${where}: interface name must match ${ifnamePattern} (at most 15 characters)`);
      if (reservedIfname.test(end.ifname)) throw bad(`${where}: interface name ${end.ifname} is reserved for the lab`);
      const key = `${end.node}:${end.ifname}`;
      if (ifnames.has(key)) throw bad(`${where}: interface defined twice`);
      ifnames.add(key);
      if (node.role === 'switch') {
        if (end.address) throw bad(`${where}: a switch port carries no address`);
      } else if (end.address) {
        checkHostAddress(where, end.address);
        const host = hostOf(end.address);
        const other = addresses.get(host);
        if (other) throw bad(`${where}: address ${host} already used by ${other}`);
        addresses.set(host, key);
      }
    }
    if (link.a.node === link.b.node) throw bad(`link ${i}: both ends on node ${link.a.node}`);
    if (link.a.address && link.b.address && prefixOf(link.a.address) !== prefixOf(link.b.address)) {
      throw bad(`link ${i}: ends ${link.a.address} and ${link.b.address} are in different prefixes; want one prefix per link`);
    }
    if (link.use === 'wan' && link.wan && findNode(topo, link.a.node)?.role !== 'appliance') {
      throw bad(`link ${i}: wan settings on a link whose customer end ${link.a.node} is not an appliance`);
    }
  }
  for (const r of topo.routes) {
    const where = `route ${r.node} ${r.to} via ${r.via}`;
    if (!findNode(topo, r.node)) throw bad(`${where}: unknown node`);
    if (r.to !== 'default') checkPrefix(where, r.to);
    if (ipToNum(r.via) === undefined) throw bad(`${where}: via ${JSON.stringify(r.via)} is not an IPv4 address`);
    const onLink = addressesOf(topo, r.node).some((a) => prefixContains(prefixOf(a), r.via));
    if (!onLink) throw bad(`${where}: via is in none of the node's connected prefixes`);
  }
  const siteNames = new Set<string>();
  for (const s of topo.sites) {
    const where = `site ${s.name}`;
    if (siteNames.has(s.name)) throw bad(`${where}: duplicate site`);
    siteNames.add(s.name);
    checkPrefix(where, s.lanPrefix);
    checkHostAddress(where, s.overlayAddress);
    if (s.appliances.length < 1 || s.appliances.length > 2) throw bad(`${where}: ${s.appliances.length} appliances; want 1, or 2 for a PAIR`);
    for (const a of s.appliances) {
      if (findNode(topo, a)?.role !== 'appliance') throw bad(`${where}: ${a} is not an appliance node`);
      if (applianceWans(topo, a).length === 0) throw bad(`${where}: appliance ${a} has no WAN link`);
      const lan = applianceLan(topo, a);
      if (!lan || !prefixContains(s.lanPrefix, hostOf(lan.address!))) throw bad(`${where}: appliance ${a} has no LAN address in ${s.lanPrefix}`);
    }
    for (const h of s.hosts) {
      if (findNode(topo, h)?.role !== 'host') throw bad(`${where}: ${h} is not a host node`);
    }
    if (s.vip) {
      checkHostAddress(where, s.vip);
      if (!prefixContains(s.lanPrefix, hostOf(s.vip))) throw bad(`${where}: vip ${s.vip} is outside ${s.lanPrefix}`);
      if (s.appliances.length !== 2) throw bad(`${where}: a vip needs two appliances (a PAIR)`);
    }
  }
  for (const u of topo.remoteUsers) {
    const where = `remote user ${u.name}`;
    if (findNode(topo, u.node)?.role !== 'host') throw bad(`${where}: ${u.node} is not a host node`);
    if (!siteNames.has(u.site)) throw bad(`${where}: unknown site ${u.site}`);
    const c = checkHostAddress(where, u.address);
    if (c.len !== 32) throw bad(`${where}: address ${u.address}; want a /32`);
    const pool = topo.sites.find((s) => s.name === u.site)?.remoteUserPrefix;
    if (pool && !prefixContains(pool, hostOf(u.address))) throw bad(`${where}: address ${u.address} is outside its site's remoteUserPrefix ${pool}`);
  }
  if (topo.internet) validateInternet(topo, topo.internet);
}

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A server's address: the one address of its one link. */
export function serverAddress(topo: Topology, node: string): string | undefined {
  const a = addressesOf(topo, node);
  return a.length === 1 ? hostOf(a[0]!) : undefined;
}

function validateInternet(topo: Topology, inet: LabInternet): void {
  const labels = inet.zone.split('.');
  if (inet.zone.length > 200 || labels.some((l) => !dnsLabel.test(l)) || labels.at(-1) !== 'test') {
    throw bad(`internet: zone ${JSON.stringify(inet.zone)}; want lower-case DNS labels ending in .test (RFC 6761), like example.test`);
  }
  if (!Number.isInteger(inet.ttl) || inet.ttl < 1 || inet.ttl > 86400) throw bad(`internet: ttl ${inet.ttl}; want whole seconds from 1 to 86400`);
  const seen = new Map<string, string>();
  const services = new Set<string>();
  for (const srv of inet.servers) {
    const where = `internet: server ${srv.node}`;
    if (findNode(topo, srv.node)?.role !== 'host') throw bad(`${where}: not a host node`);
    if (siteOf(topo, srv.node)) throw bad(`${where}: belongs to a site; want a host on the internet side`);
    const address = serverAddress(topo, srv.node);
    if (!address) throw bad(`${where}: has ${addressesOf(topo, srv.node).length} addresses; want exactly one`);
    if (srv.services.length === 0) throw bad(`${where}: no services; want some of http, iperf3, dns`);
    for (const svc of srv.services) {
      if (!['http', 'iperf3', 'dns'].includes(svc)) throw bad(`${where}: service ${JSON.stringify(svc)}; want http, iperf3 or dns`);
      if (svc === 'dns' && services.has('dns')) throw bad(`${where}: a second dns server; want one authoritative server for ${inet.zone}`);
      services.add(svc);
    }
    for (const name of srv.names) {
      const parts = name.split('.');
      const ok = parts.every((l, i) => dnsLabel.test(l) || (l === '*' && i === 0 && parts.length > 1));
      if (!ok) throw bad(`${where}: name ${JSON.stringify(name)}; want DNS labels relative to ${inet.zone}, optionally after a leading "*." (like saas1 or *.cdn)`);
      const other = seen.get(name);
      if (other) throw bad(`${where}: name ${name} already names ${other}`);
      seen.set(name, srv.node);
    }
  }
  if (inet.servers.length > 0 && !services.has('dns')) throw bad(`internet: no server runs dns; want one authoritative for ${inet.zone}`);
}

// ---------------------------------------------------------------------------
// The default network.

/**
 * The network of Tern's first users. The internet is four ISP routers
 * (ispa, ispb, ispc and the LTE ispd) hanging off one core router, so an impairment can hit
 * one customer link (the ISP's interface towards it) or a whole ISP (its
 * uplink to the core). Public addresses come from 198.18.0.0/15: one /24 per
 * ISP, a /30 per customer link (the ISP takes the first host address, the
 * customer the second), and transit /30s from 198.18.0.0/24 between core
 * and ISPs. ISPs route only 198.18.0.0/15 and
 * there is no NAT, so LAN prefixes (10.x) are unreachable across the
 * internet until the overlay carries them. Behind the core sits the
 * internet's server segment, 198.18.100.0/24 (internetSegment()): a web and
 * iperf3 server, two SaaS stand-ins and the authoritative DNS server of
 * example.test; test/lab/internet.ts starts them. home1 has a second,
 * metered WAN (an LTE ISP, ispd), as the home box of the design does
 * (ARCHITECTURE.md), so single-box breakout across two WANs is exercised by
 * every lab run. docs/lab.md draws the map.
 *
 *   core ── ispa ── office1 (wan0), home1 (wan0)
 *        ── ispb ── office2 (wan0), rw (eth0)
 *        ── ispc ── cloud1 (wan0)
 *        ── ispd ── home1 (wan1: LTE, metered)
 *        ── servers (bridge) ── inet, saas1, saas2, dns1
 *   office1, office2, officehost ── officelan (bridge)
 *   home1 ── homehost          cloud1 ── cloudsrv
 */
export function defaultTopology(): Topology {
  const serverSegment = internetSegment();
  const nodes: LabNode[] = [
    { name: 'core', role: 'router', description: 'internet core: routes each ISP /24 to its ISP' },
    { name: 'ispa', role: 'router', description: 'ISP A (fiber): office1 and home1, 198.18.1.0/24' },
    { name: 'ispb', role: 'router', description: 'ISP B (cable/mobile): office2 and the roadwarrior, 198.18.2.0/24' },
    { name: 'ispc', role: 'router', description: 'ISP C (cloud provider edge): cloud1, 198.18.3.0/24' },
    { name: 'ispd', role: 'router', description: 'ISP D (LTE, metered): home1 wan1, 198.18.4.0/24' },
    { name: 'office1', role: 'appliance', site: 'office', description: 'office appliance 1 (PAIR with office2)' },
    { name: 'office2', role: 'appliance', site: 'office', description: 'office appliance 2 (PAIR with office1)' },
    { name: 'officelan', role: 'switch', site: 'office', description: 'office LAN switch (bridge br0)' },
    { name: 'officehost', role: 'host', site: 'office', description: 'office LAN host' },
    { name: 'home1', role: 'appliance', site: 'home', description: 'home appliance: wan0 on ispa, wan1 on ispd (LTE, metered)' },
    { name: 'homehost', role: 'host', site: 'home', description: 'home LAN host' },
    { name: 'cloud1', role: 'appliance', site: 'cloud', description: 'cloud VPC appliance' },
    { name: 'cloudsrv', role: 'host', site: 'cloud', description: 'private server in the cloud VPC' },
    { name: 'rw', role: 'host', description: 'roadwarrior: remote-access client, WAN address only' },
    ...serverSegment.nodes,
  ];
  const transit = (isp: string, n: number): LabLink => ({
    use: 'transit',
    a: { node: isp, ifname: 'core', address: `198.18.0.${4 * n + 2}/30` },
    b: { node: 'core', ifname: isp, address: `198.18.0.${4 * n + 1}/30` },
  });
  const customer = (node: string, ifname: string, isp: string, ispOctet: number, n: number, wan?: LabLink['wan']): LabLink => ({
    use: 'wan',
    a: { node, ifname, address: `198.18.${ispOctet}.${4 * n + 2}/30` },
    b: { node: isp, ifname: node, address: `198.18.${ispOctet}.${4 * n + 1}/30` },
    ...(wan ? { wan } : {}),
  });
  const links: LabLink[] = [
    transit('ispa', 0),
    transit('ispb', 1),
    transit('ispc', 2),
    customer('office1', 'wan0', 'ispa', 1, 0, { name: 'ispa', upMbps: 100, downMbps: 100 }),
    customer('home1', 'wan0', 'ispa', 1, 1, { name: 'ispa', upMbps: 20, downMbps: 100 }),
    customer('office2', 'wan0', 'ispb', 2, 0, { name: 'ispb', upMbps: 50, downMbps: 200 }),
    customer('rw', 'eth0', 'ispb', 2, 1),
    customer('cloud1', 'wan0', 'ispc', 3, 0, { name: 'ispc', upMbps: 1000, downMbps: 1000 }),
    transit('ispd', 3),
    // LTE: billed by volume, and dearer than the fiber so it carries only
    // what nothing else can (tern.yaml's default cost is 10).
    customer('home1', 'wan1', 'ispd', 4, 0, { name: 'ispd', upMbps: 10, downMbps: 50, metered: true, cost: 50 }),
    { use: 'lan', a: { node: 'office1', ifname: 'lan0', address: '10.1.0.2/24' }, b: { node: 'officelan', ifname: 'office1' } },
    { use: 'lan', a: { node: 'office2', ifname: 'lan0', address: '10.1.0.3/24' }, b: { node: 'officelan', ifname: 'office2' } },
    { use: 'lan', a: { node: 'officehost', ifname: 'eth0', address: '10.1.0.10/24' }, b: { node: 'officelan', ifname: 'officehost' } },
    { use: 'lan', a: { node: 'homehost', ifname: 'eth0', address: '10.2.0.10/24' }, b: { node: 'home1', ifname: 'lan0', address: '10.2.0.1/24' } },
    { use: 'lan', a: { node: 'cloudsrv', ifname: 'eth0', address: '10.3.0.10/24' }, b: { node: 'cloud1', ifname: 'lan0', address: '10.3.0.1/24' } },
    ...serverSegment.links,
  ];
  const routes: LabRoute[] = [
    { node: 'core', to: '198.18.1.0/24', via: '198.18.0.2' },
    { node: 'core', to: '198.18.2.0/24', via: '198.18.0.6' },
    { node: 'core', to: '198.18.3.0/24', via: '198.18.0.10' },
    { node: 'core', to: '198.18.4.0/24', via: '198.18.0.14' },
    { node: 'ispa', to: '198.18.0.0/15', via: '198.18.0.1' },
    { node: 'ispb', to: '198.18.0.0/15', via: '198.18.0.5' },
    { node: 'ispc', to: '198.18.0.0/15', via: '198.18.0.9' },
    { node: 'ispd', to: '198.18.0.0/15', via: '198.18.0.13' },
    { node: 'office1', to: 'default', via: '198.18.1.1' },
    // home1's main table leaves by the fiber; the LTE WAN is used only
    // where Tern's per-WAN tables send traffic.
    { node: 'home1', to: 'default', via: '198.18.1.5' },
    { node: 'office2', to: 'default', via: '198.18.2.1' },
    { node: 'rw', to: 'default', via: '198.18.2.5' },
    { node: 'cloud1', to: 'default', via: '198.18.3.1' },
    // Until the PAIR holds the VIP, the office LAN's gateway is office1.
    { node: 'officehost', to: 'default', via: '10.1.0.2' },
    { node: 'homehost', to: 'default', via: '10.2.0.1' },
    { node: 'cloudsrv', to: 'default', via: '10.3.0.1' },
    ...serverSegment.routes,
  ];
  const sites: LabSite[] = [
    { name: 'office', appliances: ['office1', 'office2'], hosts: ['officehost'], lanPrefix: '10.1.0.0/24', vip: '10.1.0.1/24', overlayAddress: '100.64.0.1/24', remoteUserPrefix: '100.65.1.0/24' },
    { name: 'home', appliances: ['home1'], hosts: ['homehost'], lanPrefix: '10.2.0.0/24', overlayAddress: '100.64.0.2/24' },
    { name: 'cloud', appliances: ['cloud1'], hosts: ['cloudsrv'], lanPrefix: '10.3.0.0/24', overlayAddress: '100.64.0.3/24' },
  ];
  const remoteUsers: LabRemoteUser[] = [
    { name: 'rw', node: 'rw', site: 'office', address: '100.65.1.100/32' },
  ];
  return { name: 'default', nodes, links, routes, sites, remoteUsers, internet: serverSegment.internet };
}

/** The internet's server segment: the core's interface and each server on it. */
export const serverPrefix = '198.18.100.0/24';

/**
 * The servers behind the core, on one bridge (`servers`) with the core at
 * 198.18.100.1: inet (.10, web and iperf3), saas1 (.21) and saas2 (.22), two
 * SaaS services whose names a policy can match (saas1.example.test and its
 * subdomains; saas2.example.test and, like a CDN, anything under
 * cdn.example.test), and dns1 (.53), authoritative for example.test. The
 * core routes the segment as connected and the ISPs already route all of
 * 198.18.0.0/15 to the core, so no existing route changes.
 */
function internetSegment(): { nodes: LabNode[]; links: LabLink[]; routes: LabRoute[]; internet: LabInternet } {
  const servers: Array<[string, number, string, LabService[], string[]]> = [
    ['inet', 10, 'web (HTTP 80) and iperf3 (5201) server on the internet', ['http', 'iperf3'], ['www', 'inet']],
    ['saas1', 21, 'SaaS stand-in 1: saas1.example.test and *.saas1.example.test (HTTP 80)', ['http'], ['saas1', '*.saas1']],
    ['saas2', 22, 'SaaS stand-in 2: saas2.example.test and the CDN *.cdn.example.test (HTTP 80)', ['http'], ['saas2', '*.cdn']],
    ['dns1', 53, 'authoritative DNS server (nsd) for example.test', ['dns'], ['ns1']],
  ];
  return {
    nodes: [
      { name: 'servers', role: 'switch', description: `the internet's server segment ${serverPrefix} behind the core (bridge br0)` },
      ...servers.map(([name, , description]): LabNode => ({ name, role: 'host', description })),
    ],
    links: [
      { use: 'lan', a: { node: 'core', ifname: 'servers', address: '198.18.100.1/24' }, b: { node: 'servers', ifname: 'core' } },
      ...servers.map(([name, octet]): LabLink => ({ use: 'lan', a: { node: name, ifname: 'eth0', address: `198.18.100.${octet}/24` }, b: { node: 'servers', ifname: name } })),
    ],
    routes: servers.map(([name]): LabRoute => ({ node: name, to: 'default', via: '198.18.100.1' })),
    internet: {
      zone: 'example.test',
      ttl: 10,
      servers: servers.map(([node, , , services, names]) => ({ node, services, names })),
    },
  };
}

/**
 * One site with three WANs, each behind its own ISP: branch1 on ispa
 * (wan0, main's default route), ispb (wan1) and ispc (wan2), and three
 * single-WAN sites, one behind each ISP (home1 on ispa, dc1 on ispb, cloud1
 * on ispc). branch1 has 3 × 3 = 9 paths. The default lab never puts two WANs
 * on one box, so only this one shows whether a path's outer packets leave by
 * its own WAN and not by main's (issue #15, section 2). Same address plan
 * as defaultTopology: 198.18.<isp>.0/24, a /30 per customer link.
 *
 *   core ── ispa ── branch1 (wan0), home1 (wan0)
 *        ── ispb ── branch1 (wan1), dc1 (wan0)
 *        ── ispc ── branch1 (wan2), cloud1 (wan0)
 *   branch1 ── branchhost   home1 ── homehost   dc1 ── dchost   cloud1 ── cloudsrv
 */
export function multiWanTopology(): Topology {
  const isps = [['ispa', 1], ['ispb', 2], ['ispc', 3]] as const;
  const nodes: LabNode[] = [
    { name: 'core', role: 'router', description: 'internet core: routes each ISP /24 to its ISP' },
    ...isps.map(([isp, octet]): LabNode => ({ name: isp, role: 'router', description: `ISP ${isp.slice(3).toUpperCase()}: 198.18.${octet}.0/24` })),
    { name: 'branch1', role: 'appliance', site: 'branch', description: 'branch appliance with three WANs (ispa, ispb, ispc)' },
    { name: 'branchhost', role: 'host', site: 'branch', description: 'branch LAN host' },
    { name: 'home1', role: 'appliance', site: 'home', description: 'home appliance (ispa)' },
    { name: 'homehost', role: 'host', site: 'home', description: 'home LAN host' },
    { name: 'dc1', role: 'appliance', site: 'dc', description: 'data centre appliance (ispb)' },
    { name: 'dchost', role: 'host', site: 'dc', description: 'data centre LAN host' },
    { name: 'cloud1', role: 'appliance', site: 'cloud', description: 'cloud VPC appliance (ispc)' },
    { name: 'cloudsrv', role: 'host', site: 'cloud', description: 'private server in the cloud VPC' },
  ];
  const customer = (node: string, ifname: string, isp: string, ispOctet: number, n: number): LabLink => ({
    use: 'wan',
    a: { node, ifname, address: `198.18.${ispOctet}.${4 * n + 2}/30` },
    b: { node: isp, ifname: node, address: `198.18.${ispOctet}.${4 * n + 1}/30` },
    wan: { name: isp, upMbps: 100, downMbps: 100 },
  });
  const lan = (appliance: string, host: string, octet: number): LabLink => ({
    use: 'lan', a: { node: host, ifname: 'eth0', address: `10.${octet}.0.10/24` }, b: { node: appliance, ifname: 'lan0', address: `10.${octet}.0.1/24` },
  });
  const links: LabLink[] = [
    ...isps.map(([isp], n): LabLink => ({
      use: 'transit',
      a: { node: isp, ifname: 'core', address: `198.18.0.${4 * n + 2}/30` },
      b: { node: 'core', ifname: isp, address: `198.18.0.${4 * n + 1}/30` },
    })),
    ...isps.map(([isp, octet], i) => customer('branch1', `wan${i}`, isp, octet, 0)),
    customer('home1', 'wan0', 'ispa', 1, 1),
    customer('dc1', 'wan0', 'ispb', 2, 1),
    customer('cloud1', 'wan0', 'ispc', 3, 1),
    lan('branch1', 'branchhost', 1),
    lan('home1', 'homehost', 2),
    lan('cloud1', 'cloudsrv', 3),
    lan('dc1', 'dchost', 4),
  ];
  const routes: LabRoute[] = [
    ...isps.map(([, octet], n): LabRoute => ({ node: 'core', to: `198.18.${octet}.0/24`, via: `198.18.0.${4 * n + 2}` })),
    ...isps.map(([isp], n): LabRoute => ({ node: isp, to: '198.18.0.0/15', via: `198.18.0.${4 * n + 1}` })),
    // Main's default route leaves by ISP A: whatever no WAN table claims goes there.
    { node: 'branch1', to: 'default', via: '198.18.1.1' },
    { node: 'home1', to: 'default', via: '198.18.1.5' },
    { node: 'dc1', to: 'default', via: '198.18.2.5' },
    { node: 'cloud1', to: 'default', via: '198.18.3.5' },
    { node: 'branchhost', to: 'default', via: '10.1.0.1' },
    { node: 'homehost', to: 'default', via: '10.2.0.1' },
    { node: 'cloudsrv', to: 'default', via: '10.3.0.1' },
    { node: 'dchost', to: 'default', via: '10.4.0.1' },
  ];
  const sites: LabSite[] = [
    { name: 'branch', appliances: ['branch1'], hosts: ['branchhost'], lanPrefix: '10.1.0.0/24', overlayAddress: '100.64.0.1/24' },
    { name: 'home', appliances: ['home1'], hosts: ['homehost'], lanPrefix: '10.2.0.0/24', overlayAddress: '100.64.0.2/24' },
    { name: 'cloud', appliances: ['cloud1'], hosts: ['cloudsrv'], lanPrefix: '10.3.0.0/24', overlayAddress: '100.64.0.3/24' },
    { name: 'dc', appliances: ['dc1'], hosts: ['dchost'], lanPrefix: '10.4.0.0/24', overlayAddress: '100.64.0.4/24' },
  ];
  return { name: 'multiwan', nodes, links, routes, sites, remoteUsers: [] };
}
