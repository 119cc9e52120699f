// Checks a schema cannot express: names that must be unique, references that
// must resolve, prefixes that must not overlap, settings that need each other.
import { maxDomainClasses, ownInterfaceGlobs } from '../kernel/names.js';
import {
  firstOverlaps, formatAddress, formatPrefix, isHostPrefix, parseAddress, parsePrefix, prefixContains,
  specialAddress, specialRangeOverlap, subnetEdge, type IpAddress, type IpPrefix,
} from '../ip/index.js';
import type { Anchor } from './explain.js';
import { splitHostPort } from './formats.js';
import { formatKeyPath, type Segment } from './issues.js';
import { defaultAppClass, qosClassNames, type TernConfig } from './schema.js';

/** A semantic problem, not yet placed on a line. */
export interface SemanticProblem {
  segments: Segment[];
  anchor: Anchor;
  message: string;
}

/** Where a key path is written, for messages that point at a second place ("line 12"). */
export type LineOf = (segments: readonly Segment[]) => number;

// The formats were checked by the schema, so these parses cannot fail here.
// Memoised: the checks look at one prefix several times, and a large file has tens of thousands.
const parsedAddresses = new Map<string, IpAddress>();
const parsedPrefixes = new Map<string, IpPrefix>();
const memo = <T>(cache: Map<string, T>, text: string, parse: () => T): T => {
  let v = cache.get(text);
  if (v === undefined) {
    if (cache.size > 100_000) cache.clear();
    v = parse();
    cache.set(text, v);
  }
  return v;
};
const address = (text: string): IpAddress => memo(parsedAddresses, text, () => (parseAddress(text) as { value: IpAddress }).value);
const prefix = (text: string): IpPrefix => memo(parsedPrefixes, text, () => (parsePrefix(text, 'allow') as { value: IpPrefix }).value);
/** The address of an interface address (10.1.0.2/24 → 10.1.0.2), canonical. */
const hostOf = (text: string): string => { const p = prefix(text); return formatAddress({ family: p.family, value: p.address }); };

/** A prefix and the key it came from, for overlap checks. */
interface Claim {
  prefix: IpPrefix;
  segments: Segment[];
  /** How to name it in a message: "LAN prefix", "overlay network". */
  what: string;
}

/** Every site's overlay address (this site's first) with the key it is written at. */
function overlayAddresses(cfg: TernConfig): Array<{ address: IpAddress; segments: Segment[] }> {
  const own = prefix(cfg.overlay.address);
  return [
    { address: { family: own.family, value: own.address }, segments: ['overlay', 'address'] },
    ...cfg.overlay.sites.map((s, i) => ({ address: address(s.overlayAddress), segments: ['overlay', 'sites', i, 'overlayAddress'] as Segment[] })),
  ];
}

const list = (names: readonly string[]): string => (names.length ? names.join(', ') : 'none defined');

class Checker {
  readonly problems: SemanticProblem[] = [];

  constructor(readonly lineOf: LineOf) {}

  add(segments: Segment[], message: string, anchor: Anchor = 'value'): void {
    this.problems.push({ segments, anchor, message });
  }

  /** "wans[0].name (line 3)" */
  ref(segments: Segment[]): string {
    return `${formatKeyPath(segments)} (line ${this.lineOf(segments)})`;
  }

  /** Report every repeat of a value after its first appearance. */
  unique(items: Array<{ value: string; segments: Segment[] }>, what: string): void {
    const first = new Map<string, Segment[]>();
    for (const { value, segments } of items) {
      const earlier = first.get(value);
      if (earlier) this.add(segments, `duplicate ${what} '${value}'; ${this.ref(earlier)} has it already`);
      else first.set(value, segments);
    }
  }

  /** Report every claim that overlaps an earlier one. */
  disjoint(claims: readonly Claim[]): void {
    firstOverlaps(claims.map((c) => c.prefix)).forEach((j, i) => {
      if (j === undefined) return;
      const c = claims[i] as Claim;
      const clash = claims[j] as Claim;
      this.add(c.segments, `${c.what} ${formatPrefix(c.prefix)} overlaps ${clash.what} ${formatPrefix(clash.prefix)} at ${this.ref(clash.segments)}`);
    });
  }

  /** Report a host address that is unspecified, loopback, multicast or broadcast; true when it was. */
  unicast(segments: Segment[], a: IpAddress, text: string, role: string): boolean {
    const why = specialAddress(a);
    if (why) this.add(segments, `${text} is ${why}; ${role} must be a unicast host address`);
    return why !== undefined;
  }

  /** Report a host address that is the network or broadcast address of subnet (named by where). */
  notEdge(segments: Segment[], subnet: IpPrefix, a: IpAddress, text: string, where: string): void {
    const edge = subnetEdge(subnet, a);
    if (edge === 'network') this.add(segments, `${text} is the network address of ${formatPrefix(subnet)} (${where}); use a host address in it`);
    if (edge === 'broadcast') this.add(segments, `${text} is the broadcast address of ${formatPrefix(subnet)} (${where}); use a host address in it`);
  }
}


function checkIfname(c: Checker, segments: Segment[], name: string): void {
  const glob = ownInterfaceGlobs.find((g) => name.startsWith(g.slice(0, -1)));
  if (glob !== undefined) {
    c.add(segments, `interface '${name}' has a name Tern's daemons give their own interfaces (${glob}); rename the interface`);
  }
}

/** WireGuard's overhead on the WAN: outer IPv4 (20) or IPv6 (40) header, UDP (8), WireGuard data header and tag (32). */
const wireguardOverhead = { 4: 60, 6: 80 } as const;

/** True for an IPv6 link-local address (fe80::/10), a usual IPv6 next hop. */
const linkLocal6 = (a: IpAddress): boolean => a.family === 6 && (a.value >> 118n) === 0x3fan;

function checkWans(c: Checker, cfg: TernConfig): void {
  c.unique(cfg.wans.map((w, i) => ({ value: w.name, segments: ['wans', i, 'name'] })), 'WAN name');
  c.unique(cfg.wans.map((w, i) => ({ value: w.interface, segments: ['wans', i, 'interface'] })), 'WAN interface');
  const tables = cfg.wans.flatMap((w, i) => (w.table === undefined ? [] : [{ value: String(w.table), segments: ['wans', i, 'table'] }]));
  c.unique(tables, 'routing table');
  cfg.wans.forEach((w, i) => {
    const at: Segment[] = ['wans', i];
    if (w.interface === cfg.lan.interface) c.add([...at, 'interface'], `interface '${w.interface}' is the LAN interface (lan.interface)`);
    checkIfname(c, [...at, 'interface'], w.interface);
    if (w.address !== undefined && w.dhcp) c.add([...at, 'dhcp'], 'set either a static address or dhcp: true, not both');
    if (w.address === undefined && !w.dhcp) c.add([...at, 'address'], "missing required key 'address': static address with prefix length, or set dhcp: true", 'parent');
    if (w.address !== undefined && w.gateway === undefined) c.add([...at, 'gateway'], "missing required key 'gateway': the next hop, required with a static address", 'parent');
    let own: IpPrefix | undefined;
    if (w.address !== undefined) {
      own = prefix(w.address);
      const host = { family: own.family, value: own.address };
      if (!c.unicast([...at, 'address'], host, w.address, "a WAN's address")) c.notEdge([...at, 'address'], own, host, w.address, 'its own subnet');
    }
    if (own && w.gateway !== undefined) {
      const g = address(w.gateway);
      const subnet = formatPrefix(own);
      if (g.family !== own.family) c.add([...at, 'gateway'], `gateway ${w.gateway} is IPv${g.family} but address ${w.address} is IPv${own.family}`);
      else if (g.value === own.address) c.add([...at, 'gateway'], `gateway ${w.gateway} is this WAN's own address`);
      else if (!c.unicast([...at, 'gateway'], g, w.gateway, 'a gateway')) {
        // A /32 or /128 address (cloud VMs) reaches its gateway by an on-link route; an IPv6 next hop is usually link-local.
        if (!isHostPrefix(own) && !linkLocal6(g) && !prefixContains(own, g)) {
          c.add([...at, 'gateway'], `gateway ${w.gateway} is outside the WAN subnet ${subnet} (wans[${i}].address); the next hop must be on the link`);
        } else {
          c.notEdge([...at, 'gateway'], own, g, w.gateway, `the WAN subnet, wans[${i}].address`);
        }
      }
    }
    if (w.mtu !== undefined) {
      // A WAN known to be IPv4 only carries the tunnels over IPv4; any other may carry them over IPv6.
      const family = own?.family === 4 ? 4 : 6;
      const need = cfg.overlay.mtu + wireguardOverhead[family];
      if (w.mtu < need) {
        c.add([...at, 'mtu'], `MTU ${w.mtu} is below the tunnel MTU ${cfg.overlay.mtu} (overlay.mtu) + ${wireguardOverhead[family]} bytes of WireGuard over IPv${family}; raise it to ${need} or lower overlay.mtu to ${w.mtu - wireguardOverhead[family]}`);
      }
    }
    if (w.publicHost !== undefined) checkRemoteHost(c, [...at, 'publicHost'], w.publicHost, 'publicHost');
  });
}

/** A hostname or address reached across the WAN: not localhost, loopback, unspecified, multicast or broadcast. */
function checkRemoteHost(c: Checker, segments: Segment[], host: string, what: string): void {
  const a = parseAddress(host);
  const why = a.ok ? specialAddress(a.value) : /^localhost\.?$/i.test(host) || /\.localhost\.?$/i.test(host) ? 'this box itself (RFC 6761 localhost)' : undefined;
  if (why) c.add(segments, `${host} is ${why}; ${what} must be an address reached across the WAN`);
}

function checkLan(c: Checker, cfg: TernConfig): void {
  const lan = prefix(cfg.lan.address);
  const host = { family: lan.family, value: lan.address };
  checkIfname(c, ['lan', 'interface'], cfg.lan.interface);
  if (!c.unicast(['lan', 'address'], host, cfg.lan.address, 'the LAN address')) {
    c.notEdge(['lan', 'address'], lan, host, cfg.lan.address, 'its own subnet');
  }
  const prefixes = cfg.lan.prefixes.map(prefix);
  const holder = prefixes.find((p) => prefixContains(p, host));
  if (!holder) {
    c.add(['lan', 'address'], `${cfg.lan.address} is outside the LAN prefixes (lan.prefixes: ${cfg.lan.prefixes.join(', ')}); this appliance's LAN address must lie in one`);
  } else if (!prefixContains(holder, { ...lan, address: lan.network })) {
    // The address's length makes an on-link route: wider than the prefix, it claims addresses routed elsewhere.
    c.add(['lan', 'address'], `${cfg.lan.address} makes the LAN subnet ${formatPrefix(lan)}, wider than the LAN prefix ${formatPrefix(holder)} that holds it; use a prefix length of at least /${holder.length}`);
  }
  const routed: Array<{ segments: Segment[]; text: string }> = [
    ...cfg.lan.prefixes.map((p, i) => ({ segments: ['lan', 'prefixes', i] as Segment[], text: p })),
    ...cfg.overlay.sites.flatMap((s, i) => s.lanPrefixes.map((p, j) => ({ segments: ['overlay', 'sites', i, 'lanPrefixes', j] as Segment[], text: p }))),
  ];
  for (const r of routed) {
    const p = prefix(r.text);
    if (p.length === 0) c.add(r.segments, `${r.text} is a default route, not a LAN prefix; it would send all traffic, the tunnels' own included, into the overlay`);
    else {
      const hit = specialRangeOverlap(p);
      if (hit) c.add(r.segments, `${r.text} overlaps ${hit}; a LAN prefix must hold unicast host addresses`);
    }
  }
}

function checkOverlay(c: Checker, cfg: TernConfig): void {
  const o = cfg.overlay;
  const siteIds = o.sites.map((s) => s.id);
  if (o.topology === 'hub-spoke' && o.hub === undefined) {
    c.add(['overlay', 'hub'], "missing required key 'hub': topology hub-spoke needs the site id of the hub", 'parent');
  }
  if (o.topology === 'mesh' && o.hub !== undefined) c.add(['overlay', 'hub'], 'hub applies only to topology hub-spoke');
  if (o.hub !== undefined && o.hub !== cfg.identity.site && !siteIds.includes(o.hub)) {
    c.add(['overlay', 'hub'], `no site '${o.hub}'; known sites: ${list([cfg.identity.site, ...siteIds])}`);
  }
  o.sites.forEach((s, i) => {
    if (s.id === cfg.identity.site) c.add(['overlay', 'sites', i, 'id'], `'${s.id}' is this site's own id (identity.site)`);
    c.unique(s.wans.map((w, j) => ({ value: w.name, segments: ['overlay', 'sites', i, 'wans', j, 'name'] })), `WAN name in site '${s.id}'`);
  });
  c.unique(o.sites.map((s, i) => ({ value: s.id, segments: ['overlay', 'sites', i, 'id'] })), 'site id');

  const net = prefix(o.address);
  const own = { family: net.family, value: net.address };
  if (!c.unicast(['overlay', 'address'], own, o.address, "this site's overlay address")) {
    c.notEdge(['overlay', 'address'], net, own, o.address, 'the overlay network it defines');
  }
  o.sites.forEach((s, i) => {
    const a = address(s.overlayAddress);
    if (!prefixContains(net, a)) {
      c.add(['overlay', 'sites', i, 'overlayAddress'], `${s.overlayAddress} is outside the overlay network ${formatPrefix(net)} (overlay.address)`);
    } else {
      c.notEdge(['overlay', 'sites', i, 'overlayAddress'], net, a, s.overlayAddress, 'the overlay network, overlay.address');
    }
  });
  checkEndpoints(c, cfg, net);
  c.unique(overlayAddresses(cfg).map(({ address: a, segments }) => ({ value: formatAddress(a), segments })), 'overlay address');

  // One tunnel per (local WAN, remote WAN). The tunnel to site n (n = its
  // overlay address's host part) from local WAN slot a to remote slot b
  // listens on listenPort + 16n + 4a + b (daemons/lib/overlay), so both ends
  // compute each other's ports; WAN slots are the site's WAN names sorted.
  const localWans = new Set([...cfg.wans.map((w) => w.name), ...(cfg.pair?.peerWans ?? [])]);
  if (localWans.size > 4) {
    c.add(['wans'], `this site has ${localWans.size} WANs (with pair.peerWans); at most 4 are supported`);
  }
  o.sites.forEach((s, i) => {
    if (s.wans.length > 4) c.add(['overlay', 'sites', i, 'wans'], `site '${s.id}' lists ${s.wans.length} WANs; at most 4 are supported`);
  });
  // Sites outside the overlay network are reported above; leave them out here.
  const numbers = o.sites.filter((s) => prefixContains(net, address(s.overlayAddress)))
    .map((s) => Number(address(s.overlayAddress).value - net.network));
  const maxNumber = Math.max(0, ...numbers);
  const last = o.listenPort + 16 * maxNumber + 15;
  if (o.sites.length > 0 && last > 65535) {
    c.add(['overlay', 'listenPort'], `tunnels to site number ${maxNumber} need ports up to ${last}, past 65535: lower listenPort or use lower overlay addresses`);
  }
  const first = o.listenPort + 16;
  if (o.sites.length > 0 && o.remoteUserPort >= first && o.remoteUserPort <= last) {
    c.add(['overlay', 'remoteUserPort'], `port ${o.remoteUserPort} is taken by a tunnel (tunnels use ${first}-${last})`);
  }
  // The STAMP reflector's UDP port, like the WireGuard ones, is bound on every WAN.
  const stamp = cfg.probes.port;
  if (stamp === o.remoteUserPort) {
    c.add(['probes', 'port'], `UDP port ${stamp} is overlay.remoteUserPort (line ${c.lineOf(['overlay', 'remoteUserPort'])}); the probe reflector needs a port of its own`);
  } else if (o.sites.length > 0 && stamp >= first && stamp <= last) {
    c.add(['probes', 'port'], `UDP port ${stamp} is taken by a tunnel (tunnels use ${first}-${last}, from overlay.listenPort); the probe reflector needs a port of its own`);
  }
}

/**
 * Remote sites' endpoints: reachable hosts, not this box, and not inside what
 * the tunnels carry (the overlay network, remote LANs): a tunnel whose
 * endpoint is routed through the overlay would carry itself.
 */
function checkEndpoints(c: Checker, cfg: TernConfig, overlayNet: IpPrefix): void {
  const own: Array<{ value: string; segments: Segment[] }> = [];
  cfg.wans.forEach((w, i) => {
    if (w.address !== undefined) own.push({ value: hostOf(w.address), segments: ['wans', i, 'address'] });
    if (w.publicHost !== undefined) own.push({ value: w.publicHost.toLowerCase().replace(/\.$/, ''), segments: ['wans', i, 'publicHost'] });
  });
  own.push({ value: hostOf(cfg.lan.address), segments: ['lan', 'address'] });
  const carried: Array<{ prefix: IpPrefix; segments: Segment[]; what: string }> = [
    { prefix: overlayNet, segments: ['overlay', 'address'], what: 'the overlay network' },
    ...cfg.overlay.sites.flatMap((s, i) => s.lanPrefixes.map((p, j) => ({ prefix: prefix(p), segments: ['overlay', 'sites', i, 'lanPrefixes', j] as Segment[], what: `a LAN prefix of site '${s.id}'` }))),
  ];
  cfg.overlay.sites.forEach((s, i) => s.wans.forEach((w, j) => {
    const at: Segment[] = ['overlay', 'sites', i, 'wans', j, 'endpoint'];
    const hp = splitHostPort(w.endpoint);
    if (typeof hp === 'string') return;
    const a = parseAddress(hp.host);
    const host = a.ok ? formatAddress(a.value) : hp.host.toLowerCase().replace(/\.$/, '');
    checkRemoteHost(c, at, hp.host, `the endpoint of site '${s.id}'`);
    const self = own.find((o) => o.value === host);
    if (self) {
      c.add(at, `${hp.host} is this appliance's own address (${c.ref(self.segments)}); a site cannot build tunnels to itself`);
      return;
    }
    if (!a.ok) return;
    const inside = carried.find((x) => prefixContains(x.prefix, a.value));
    if (inside) c.add(at, `${hp.host} lies in ${inside.what} ${formatPrefix(inside.prefix)} (${c.ref(inside.segments)}), which the tunnels themselves carry; give the address the site is reached at over the WAN`);
  }));
}

function checkAddressing(c: Checker, cfg: TernConfig): void {
  // Prefixes routed to a LAN or a WAN; with the overlay network, none may overlap.
  const routed: Claim[] = [];
  // A default route as a LAN prefix overlaps everything; checkLan reports it once.
  const lanClaim = (c: Claim): void => { if (c.prefix.length > 0) routed.push(c); };
  cfg.lan.prefixes.forEach((p, i) => lanClaim({ prefix: prefix(p), segments: ['lan', 'prefixes', i], what: 'LAN prefix' }));
  cfg.overlay.sites.forEach((s, i) => s.lanPrefixes.forEach((p, j) => {
    lanClaim({ prefix: prefix(p), segments: ['overlay', 'sites', i, 'lanPrefixes', j], what: `LAN prefix of site '${s.id}'` });
  }));
  cfg.wans.forEach((w, i) => {
    if (w.address === undefined) return;
    const p = prefix(w.address);
    routed.push({ prefix: { ...p, address: p.network }, segments: ['wans', i, 'address'], what: `subnet of WAN '${w.name}'` });
  });
  const net = prefix(cfg.overlay.address);
  c.disjoint([{ prefix: { ...net, address: net.network }, segments: ['overlay', 'address'], what: 'overlay network' }, ...routed]);

  // Remote users: host addresses, usually inside the overlay network, that
  // must not fall into a routed prefix, be a site's overlay address or repeat.
  const sites = new Map(overlayAddresses(cfg).map((x) => [formatAddress(x.address), x.segments]));
  const users: Claim[] = [];
  const written: string[] = [];
  cfg.remoteUsers.forEach((u, i) => {
    const at: Segment[] = ['remoteUsers', i, 'address'];
    const p = prefix(u.address);
    if (!isHostPrefix(p)) {
      c.add(at, `must be a host prefix (/${p.family === 4 ? 32 : 128}); got ${u.address}`);
      return;
    }
    const host = { family: p.family, value: p.address };
    if (c.unicast(at, host, u.address, "a remote user's address")) return;
    if (prefixContains(net, host)) c.notEdge(at, net, host, u.address, 'the overlay network, overlay.address');
    users.push({ prefix: p, segments: at, what: `address of remote user '${u.name}'` });
    written.push(u.address);
    u.dns?.forEach((d, j) => c.unicast(['remoteUsers', i, 'dns', j], address(d), d, 'a DNS server'));
  });
  // Against the routed prefixes and each other; an address is reported once, at its first clash.
  const claims = [...routed, ...users];
  const clashes = firstOverlaps(claims.map((x) => x.prefix));
  users.forEach((x, k) => {
    const j = clashes[routed.length + k];
    if (j !== undefined) {
      const clash = claims[j] as Claim;
      c.add(x.segments, `${written[k] as string} overlaps ${clash.what} ${formatPrefix(clash.prefix)} at ${c.ref(clash.segments)}`);
      return;
    }
    const site = sites.get(formatAddress({ family: x.prefix.family, value: x.prefix.address }));
    if (site) c.add(x.segments, `${written[k] as string} is a site's overlay address (${c.ref(site)})`);
  });
  c.unique(cfg.remoteUsers.map((u, i) => ({ value: u.name, segments: ['remoteUsers', i, 'name'] })), 'remote user name');
  const keys = [
    ...cfg.overlay.sites.map((s, i) => ({ value: s.publicKey, segments: ['overlay', 'sites', i, 'publicKey'] as Segment[] })),
    ...cfg.remoteUsers.map((u, i) => ({ value: u.publicKey, segments: ['remoteUsers', i, 'publicKey'] as Segment[] })),
  ];
  // WireGuard tells peers apart by public key only: a repeat would steal the other's traffic.
  c.unique(keys, 'WireGuard public key');
}

function checkPair(c: Checker, cfg: TernConfig): void {
  const pair = cfg.pair;
  if (!pair) return;
  const wanNames = cfg.wans.map((w) => w.name);
  const lanAddress = prefix(cfg.lan.address);
  const onLan = pair.interface === undefined || pair.interface === cfg.lan.interface;
  if (pair.interface !== undefined) {
    checkIfname(c, ['pair', 'interface'], pair.interface);
    const wan = cfg.wans.findIndex((w) => w.interface === pair.interface);
    if (wan >= 0) c.add(['pair', 'interface'], `interface '${pair.interface}' carries WAN '${cfg.wans[wan]?.name}' (${c.ref(['wans', wan, 'interface'])}); the VIPs and VRRP adverts belong on the LAN side, where steerd and the firewall expect them`);
  }
  const families = new Set(pair.vips.map((v) => prefix(v).family));
  if (families.size > 1) c.add(['pair', 'vips'], 'mixes IPv4 and IPv6; a VRRP instance carries one address family');
  c.unique(pair.vips.map((v, i) => ({ value: formatPrefix(prefix(v), 'address'), segments: ['pair', 'vips', i] })), 'VIP');
  let owner = false;
  pair.vips.forEach((v, i) => {
    const p = prefix(v);
    const host = { family: p.family, value: p.address };
    if (c.unicast(['pair', 'vips', i], host, v, 'a VIP')) return;
    if (onLan && p.family === lanAddress.family && !prefixContains(lanAddress, host)) {
      c.add(['pair', 'vips', i], `${v} is outside the LAN subnet ${formatPrefix(lanAddress)} (lan.address)`);
    } else if (onLan) {
      c.notEdge(['pair', 'vips', i], lanAddress, host, v, 'the LAN subnet, lan.address');
    } else {
      c.notEdge(['pair', 'vips', i], p, host, v, 'its own subnet');
    }
    if (p.family === lanAddress.family && p.address === lanAddress.address) owner = true;
  });
  if (pair.priority === 255 && !owner) {
    c.add(['pair', 'priority'], "255 is for the owner of the VIP address (a VIP equal to lan.address); use 1-254");
  }
  if (pair.priority !== 255 && owner) {
    c.add(['pair', 'vips'], `a VIP is this appliance's own LAN address ${cfg.lan.address}: that makes it the address owner (priority 255); use a free address`);
  }
  if (pair.priority === 255 && pair.track.length > 0) {
    c.add(['pair', 'track'], 'the address owner (priority 255) never lowers its priority; use priority 254 or less to track');
  }
  pair.track.forEach((t, i) => {
    const at: Segment[] = ['pair', 'track', i];
    if ((t.wan === undefined) === (t.path === undefined)) {
      c.add(at, 'set exactly one of wan or path');
      return;
    }
    if (t.wan !== undefined && !wanNames.includes(t.wan)) c.add([...at, 'wan'], `no WAN '${t.wan}'; WANs: ${list(wanNames)}`);
    if (t.path !== undefined) {
      const [local, site, remote] = t.path.split('/') as [string, string, string];
      const s = cfg.overlay.sites.find((x) => x.id === site);
      if (!wanNames.includes(local)) c.add([...at, 'path'], `no local WAN '${local}'; WANs: ${list(wanNames)}`);
      else if (!s) c.add([...at, 'path'], `no site '${site}'; sites: ${list(cfg.overlay.sites.map((x) => x.id))}`);
      else if (!s.wans.some((w) => w.name === remote)) c.add([...at, 'path'], `site '${site}' has no WAN '${remote}'; its WANs: ${list(s.wans.map((w) => w.name))}`);
    }
  });
  c.unique(pair.peerWans.map((n, i) => ({ value: n, segments: ['pair', 'peerWans', i] })), 'peer WAN');
  pair.peerWans.forEach((n, i) => {
    if (wanNames.includes(n)) c.add(['pair', 'peerWans', i], `'${n}' is a WAN of this appliance; peer WAN names must differ from local ones`);
  });
  const vipFamily = prefix(pair.vips[0] as string).family;
  const vipHosts = new Map(pair.vips.map((v, i) => [hostOf(v), i]));
  pair.unicastPeers.forEach((a, i) => {
    const at: Segment[] = ['pair', 'unicastPeers', i];
    const p = address(a);
    if (c.unicast(at, p, a, 'the other appliance')) return;
    const vip = vipHosts.get(formatAddress(p));
    if (p.family !== vipFamily) c.add(at, `${a} is IPv${p.family} but the VIPs are IPv${vipFamily}`);
    else if (p.value === lanAddress.address) c.add(at, `${a} is this appliance's own address`);
    else if (vip !== undefined) c.add(at, `${a} is a VIP (${c.ref(['pair', 'vips', vip])}); give the other appliance's own address`);
    else if (onLan && p.family === lanAddress.family && !prefixContains(lanAddress, p)) {
      // VRRP adverts go out with TTL 255 and are dropped otherwise (RFC 9568 5.1.1.3): the peer must be on the link.
      c.add(at, `${a} is outside the LAN subnet ${formatPrefix(lanAddress)} (lan.address); VRRP adverts reach only the same link`);
    } else if (onLan) {
      c.notEdge(at, lanAddress, p, a, 'the LAN subnet, lan.address');
    }
  });
}

function checkProbesAndQos(c: Checker, cfg: TernConfig): void {
  const wanNames = cfg.wans.map((w) => w.name);
  const known = (segments: Segment[], name: string): void => {
    if (!wanNames.includes(name)) c.add(segments, `no WAN '${name}'; WANs: ${list(wanNames)}`);
  };
  cfg.probes.wans.forEach((p, i) => known(['probes', 'wans', i, 'wan'], p.wan));
  c.unique(cfg.probes.wans.map((p, i) => ({ value: p.wan, segments: ['probes', 'wans', i, 'wan'] })), 'probes entry for WAN');

  // Probe targets: somewhere across the WAN, not this box or an address that answers from many hosts or none.
  const ownAddresses = new Map<string, Segment[]>([
    ...cfg.wans.flatMap((w, i) => (w.address === undefined ? [] : [[hostOf(w.address), ['wans', i, 'address']] as [string, Segment[]]])),
    [hostOf(cfg.lan.address), ['lan', 'address']],
  ]);
  const target = (segments: Segment[], text: string): void => {
    const a = address(text);
    if (c.unicast(segments, a, text, 'a probe target')) return;
    const self = ownAddresses.get(formatAddress(a));
    if (self) c.add(segments, `${text} is this appliance's own address (${c.ref(self)}); probe something across the WAN`);
  };
  cfg.probes.wanTargets.forEach((t, i) => target(['probes', 'wanTargets', i], t));
  cfg.probes.wans.forEach((p, i) => p.targets?.forEach((t, j) => target(['probes', 'wans', i, 'targets', j], t)));

  // Path classes name paths localWan/site/remoteWan; each named part must exist.
  const localWans = [...wanNames, ...(cfg.pair?.peerWans ?? [])];
  const sites = cfg.overlay.sites;
  c.unique(cfg.probes.pathClasses.map((k, i) => ({ value: k.name, segments: ['probes', 'pathClasses', i, 'name'] })), 'path class name');
  cfg.probes.pathClasses.forEach((k, i) => k.paths.forEach((pathId, j) => {
    const at: Segment[] = ['probes', 'pathClasses', i, 'paths', j];
    const [local, site, remote] = pathId.split('/') as [string, string, string];
    const s = sites.find((x) => x.id === site);
    if (local !== '*' && !localWans.includes(local)) c.add(at, `no local WAN '${local}' in ${pathId}; WANs: ${list(localWans)}`);
    else if (site !== '*' && !s) c.add(at, `no site '${site}' in ${pathId}; sites: ${list(sites.map((x) => x.id))}`);
    else if (remote !== '*' && s && !s.wans.some((w) => w.name === remote)) c.add(at, `site '${site}' has no WAN '${remote}' (in ${pathId}); its WANs: ${list(s.wans.map((w) => w.name))}`);
    else if (remote !== '*' && !s && !sites.some((x) => x.wans.some((w) => w.name === remote))) c.add(at, `no site has a WAN '${remote}' (in ${pathId})`);
  }));

  const q = cfg.qos;
  q.wans.forEach((w, i) => known(['qos', 'wans', i, 'wan'], w.wan));
  c.unique(q.wans.map((w, i) => ({ value: w.wan, segments: ['qos', 'wans', i, 'wan'] })), 'qos entry for WAN');
  if (q.enabled) {
    cfg.wans.forEach((w, i) => {
      const o = q.wans.find((x) => x.wan === w.name);
      if (o?.enabled === false) return;
      for (const key of ['upMbps', 'downMbps'] as const) {
        if (w[key] === undefined && o?.[key] === undefined) {
          c.add(['wans', i, key], `missing required key '${key}': QoS shapes this WAN (qos.enabled) and needs its bandwidth`, 'parent');
        }
      }
    });
  }
  q.wans.forEach((w, i) => {
    const a = w.autorate;
    const at: Segment[] = ['qos', 'wans', i, 'autorate'];
    for (const dir of ['Up', 'Down'] as const) {
      const min = a[`min${dir}Mbps`];
      const max = a[`max${dir}Mbps`];
      if (a.enabled) {
        if (min === undefined) c.add([...at, `min${dir}Mbps`], `missing required key 'min${dir}Mbps': autorate needs its bounds when enabled`, 'parent');
        if (max === undefined) c.add([...at, `max${dir}Mbps`], `missing required key 'max${dir}Mbps': autorate needs its bounds when enabled`, 'parent');
      }
      if (min !== undefined && max !== undefined && min > max) {
        c.add([...at, `min${dir}Mbps`], `min${dir}Mbps ${min} is above max${dir}Mbps ${max}`);
      }
    }
  });

  const share = qosClassNames.reduce((n, k) => n + q.classes[k].sharePct, 0);
  if (share > 100) c.add(['qos', 'classes'], `sharePct of the classes add up to ${share}%; at most 100%`);
  const dscpOwner = new Map<number, string>();
  for (const k of qosClassNames) {
    const cls = q.classes[k];
    if (cls.sharePct > cls.ceilPct) c.add(['qos', 'classes', k, 'sharePct'], `sharePct ${cls.sharePct} is above ceilPct ${cls.ceilPct}`);
    cls.dscp.forEach((d, i) => {
      const other = dscpOwner.get(d);
      if (other) c.add(['qos', 'classes', k, 'dscp', i], `DSCP ${d} is already in class ${other}`);
      else dscpOwner.set(d, k);
    });
  }
}

// Protocols whose packets carry ports: tcp, udp, sctp, udplite.
const portProtocols = new Set<string | number>(['tcp', 'udp', 'any', 6, 17, 132, 136]);

function checkSteering(c: Checker, cfg: TernConfig): void {
  const classNames = cfg.appClasses.map((a) => a.name);
  c.unique(cfg.appClasses.map((a, i) => ({ value: a.name, segments: ['appClasses', i, 'name'] })), 'app class name');
  cfg.appClasses.forEach((a, i) => {
    const at: Segment[] = ['appClasses', i];
    if (a.name === defaultAppClass) c.add([...at, 'name'], `'${defaultAppClass}' is reserved for traffic no app class matches; pick another name`);
    const m = a.match;
    if (!m.prefixes && !m.protocols && !m.ports && !m.dscp && !m.domains) {
      c.add([...at, 'match'], 'matches nothing: give at least one of prefixes, protocols, ports, dscp, domains');
    }
    if (m.ports && m.protocols && !m.protocols.some((p) => portProtocols.has(p))) {
      c.add([...at, 'match', 'ports'], `ports need protocol tcp, udp or any; protocols are ${m.protocols.join(', ')}`);
    }
  });

  const wanNames = [...cfg.wans.map((w) => w.name), ...(cfg.pair?.peerWans ?? [])];
  const wanRef = (segments: Segment[], name: string): void => {
    if (!wanNames.includes(name)) c.add(segments, `no WAN '${name}'; WANs: ${list(wanNames)} (peer WANs go in pair.peerWans)`);
  };
  c.unique(cfg.policies.map((p, i) => ({ value: p.appClass, segments: ['policies', i, 'appClass'] })), 'policy for app class');
  cfg.policies.forEach((p, i) => {
    const at: Segment[] = ['policies', i];
    if (p.appClass !== defaultAppClass && !classNames.includes(p.appClass)) {
      c.add([...at, 'appClass'], `no app class '${p.appClass}'; app classes: ${list([...classNames, defaultAppClass])}`);
    }
    p.preferWans.forEach((n, j) => wanRef([...at, 'preferWans', j], n));
    if (p.weights !== undefined) {
      if (p.mode !== 'weighted') c.add([...at, 'weights'], `weights apply only to mode weighted; mode is ${p.mode}`);
      for (const n of Object.keys(p.weights)) wanRef([...at, 'weights', n], n);
    }
  });
}

/** A port or 'low-high' as [low, high]. */
const portSpan = (p: number | string): [number, number] => {
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number);
  return [a as number, b as number];
};
const spanText = ([a, b]: [number, number]): string => (a === b ? String(a) : `${a}-${b}`);

/**
 * The firewall's port forwards and zone rules, and NAT per WAN (edged,
 * daemons/edged): forwards go to LAN hosts, never onto a port Tern serves
 * on the WANs, never two onto one WAN port; rules and forwards can match
 * what they name.
 */
function checkFirewall(c: Checker, cfg: TernConfig): void {
  cfg.wans.forEach((w, i) => {
    if (w.nat === 'snat' && w.address === undefined) {
      c.add(['wans', i, 'nat'], `nat: snat rewrites to the WAN's static address, and wans[${i}] has none${w.dhcp ? ' (dhcp: true)' : ''}; set address or use nat: masquerade`);
    }
  });
  const wanNames = cfg.wans.map((w) => w.name);
  const lans = cfg.lan.prefixes.map(prefix);
  const lanHost = hostOf(cfg.lan.address);
  // UDP ports Tern serves on every WAN: the site tunnels (listenPort + 16n + 4a + b), remote users', STAMP.
  const o = cfg.overlay;
  const net = prefix(o.address);
  const numbers = o.sites.filter((s) => prefixContains(net, address(s.overlayAddress))).map((s) => Number(address(s.overlayAddress).value - net.network));
  const served: Array<{ span: [number, number]; what: string }> = [
    { span: [o.remoteUserPort, o.remoteUserPort], what: 'overlay.remoteUserPort, where remote users connect' },
    { span: [cfg.probes.port, cfg.probes.port], what: 'probes.port, the probe reflector (STAMP)' },
  ];
  if (numbers.length) served.push({ span: [o.listenPort + 16, o.listenPort + 16 * Math.max(...numbers) + 15], what: 'taken by the site tunnels (from overlay.listenPort)' });
  c.unique(cfg.firewall.portForwards.map((f, i) => ({ value: f.name, segments: ['firewall', 'portForwards', i, 'name'] })), 'port forward name');
  c.unique(cfg.firewall.rules.map((r, i) => ({ value: r.name, segments: ['firewall', 'rules', i, 'name'] })), 'firewall rule name');
  const forwards = cfg.firewall.portForwards.map((f, i) => ({ f, i, span: portSpan(f.port), wans: f.wans.length ? f.wans : wanNames }));
  for (const { f, i, span, wans } of forwards) {
    const at: Segment[] = ['firewall', 'portForwards', i];
    const to = address(f.to);
    if (!c.unicast([...at, 'to'], to, f.to, 'a port forward\'s host')) {
      if (formatAddress(to) === lanHost) c.add([...at, 'to'], `${f.to} is this box's own LAN address (lan.address); a port forward goes to a LAN host`);
      else if (!lans.some((l) => prefixContains(l, to))) c.add([...at, 'to'], `${f.to} is outside the LAN prefixes (lan.prefixes: ${cfg.lan.prefixes.join(', ')}); a port forward goes to a LAN host`);
    }
    f.wans.forEach((n, j) => {
      if (!wanNames.includes(n)) c.add([...at, 'wans', j], `no WAN '${n}'; WANs: ${list(wanNames)} (a forward opens on this box's WANs only)`);
    });
    if (f.toPort !== undefined && span[0] !== span[1]) {
      c.add([...at, 'toPort'], `toPort goes with a single port; port is the range ${spanText(span)}, forwarded to the same ports on the host`);
    }
    if (f.protocol === 'udp') {
      for (const s of served) {
        if (span[0] <= s.span[1] && s.span[0] <= span[1]) {
          c.add([...at, 'port'], `UDP ${spanText(span)} overlaps ${spanText(s.span)}, ${s.what}; Tern serves it on the WANs, so it cannot be forwarded`);
          break;
        }
      }
    }
    const earlier = forwards.find((g) => g.i < i && g.f.protocol === f.protocol && g.span[0] <= span[1] && span[0] <= g.span[1] && g.wans.some((w) => wans.includes(w)));
    if (earlier) {
      const shared = earlier.wans.filter((w) => wans.includes(w));
      c.add([...at, 'port'], `${f.protocol.toUpperCase()} ${spanText(span)} on WAN ${shared.join(', ')} overlaps port forward '${earlier.f.name}' (${spanText(earlier.span)}) at ${c.ref(['firewall', 'portForwards', earlier.i, 'port'])}`);
    }
    const family = to.family;
    f.sources.forEach((p, j) => {
      if (prefix(p).family !== family) c.add([...at, 'sources', j], `${p} is IPv${prefix(p).family} but the forward goes to an IPv${family} host (to: ${f.to}); it can never match`);
    });
  }
  cfg.firewall.rules.forEach((r, i) => {
    const at: Segment[] = ['firewall', 'rules', i];
    if (r.from === r.to && r.from === 'wan') c.add([...at, 'to'], 'a rule from wan to wan would route the internet through this box; name another zone or box');
    const fam = (ps: string[]): Set<number> => new Set(ps.map((p) => prefix(p).family));
    const src = fam(r.sources);
    const dst = fam(r.destinations);
    if (src.size && dst.size && ![...src].some((f) => dst.has(f))) {
      c.add([...at, 'destinations'], `destinations are IPv${[...dst].join('/IPv')} only and sources IPv${[...src].join('/IPv')} only: the rule can never match`);
    }
    if (r.ports && r.protocols && !r.protocols.some((p) => portProtocols.has(p))) {
      c.add([...at, 'ports'], `ports need protocol tcp, udp or any; protocols are ${r.protocols.join(', ')}`);
    }
  });
}

function checkListeners(c: Checker, cfg: TernConfig): void {
  const hp = splitHostPort(cfg.metrics.listen);
  if (typeof hp !== 'string') {
    const a = address(hp.host);
    const why = specialAddress(a);
    // 0.0.0.0, :: (every address) and loopback are fine places to listen.
    if (why && a.value !== 0n && !/loopback/.test(why)) c.add(['metrics', 'listen'], `${hp.host} is ${why}; listen on a local address, 0.0.0.0, :: or loopback`);
  }
}

/**
 * DHCP ranges, static leases and options, DNS upstreams and domain app
 * classes (issue 17): what dnsmasq would accept but the LAN would not.
 */
function checkLanServices(c: Checker, cfg: TernConfig): void {
  const lan = prefix(cfg.lan.address);
  const lanText = formatPrefix(lan);
  const lanHost = lan.address;
  const vips = (cfg.pair?.vips ?? []).map((v, i) => ({ value: prefix(v).address, family: prefix(v).family, segments: ['pair', 'vips', i] as Segment[] }));
  const at4 = (segments: Segment[], a: IpAddress, text: string, what: string): boolean => {
    if (a.family !== 4) { c.add(segments, `${text} is IPv6; ${what} is IPv4 (DHCP serves IPv4; IPv6 hosts use SLAAC)`); return false; }
    return true;
  };
  /** A host address the LAN's hosts must reach on the link: IPv4, unicast, in the LAN subnet, not its edges. */
  const onLan = (segments: Segment[], a: IpAddress, text: string, what: string): boolean => {
    if (!at4(segments, a, text, what) || c.unicast(segments, a, text, what)) return false;
    if (!prefixContains(lan, a)) { c.add(segments, `${text} is outside the LAN subnet ${lanText} (lan.address); ${what} must be in it`); return false; }
    const before = c.problems.length;
    c.notEdge(segments, lan, a, text, 'the LAN subnet, lan.address');
    return c.problems.length === before;
  };
  // dnsmasq's config gives ',', '#', '@', '/' and '=' meanings: the interfaces it is told about must be plain names.
  const plainIfname = /^[A-Za-z0-9_.-]+$/;
  if ((cfg.lan.dhcp || cfg.lan.dns) && !plainIfname.test(cfg.lan.interface)) {
    c.add(['lan', 'interface'], `interface '${cfg.lan.interface}' cannot be given to the LAN's DHCP and DNS server (dnsmasq); use letters, digits, '.', '_' and '-'`);
  }
  const dhcp = cfg.lan.dhcp;
  // Both boxes of a PAIR would hand out leases from the same ranges on one
  // LAN (two servers, no shared lease file): refused until DHCP follows the
  // PAIR role. DNS needs no such care: either box answers the same.
  if (dhcp && dhcp.enabled && cfg.pair && cfg.pair.enabled) {
    c.add(['lan', 'dhcp'], 'DHCP on a PAIR appliance (pair.enabled is true) would have both boxes hand out leases on one LAN; serve DHCP from one box, or set pair.enabled: false (PAIR-aware DHCP is not supported yet)');
  }
  if (dhcp) {
    if (lan.family !== 4) c.add(['lan', 'dhcp'], `lan.address ${cfg.lan.address} is IPv6; DHCP serves IPv4 (IPv6 hosts use SLAAC): give the LAN an IPv4 address or remove lan.dhcp`);
    const ranges: Array<{ start: bigint; end: bigint; segments: Segment[] }> = [];
    dhcp.ranges.forEach((r, i) => {
      const at: Segment[] = ['lan', 'dhcp', 'ranges', i];
      const s = address(r.start);
      const e = address(r.end);
      const okS = onLan([...at, 'start'], s, r.start, 'a DHCP range');
      const okE = onLan([...at, 'end'], e, r.end, 'a DHCP range');
      if (!okS || !okE) return;
      if (s.value > e.value) { c.add([...at, 'end'], `${r.end} is below start ${r.start}`); return; }
      if (lan.family === 4 && lanHost >= s.value && lanHost <= e.value) c.add(at, `${r.start}-${r.end} holds this appliance's address ${hostOf(cfg.lan.address)} (lan.address); leave it out of the range`);
      for (const v of vips) {
        if (v.family === 4 && v.value >= s.value && v.value <= e.value) c.add(at, `${r.start}-${r.end} holds the VIP ${formatAddress({ family: 4, value: v.value })} (${c.ref(v.segments)}); leave it out of the range`);
      }
      const clash = ranges.find((o) => s.value <= o.end && o.start <= e.value);
      if (clash) c.add(at, `${r.start}-${r.end} overlaps the range at ${c.ref(clash.segments)}`);
      ranges.push({ start: s.value, end: e.value, segments: at });
    });
    const macs: Array<{ value: string; segments: Segment[] }> = [];
    const addrs: Array<{ value: string; segments: Segment[] }> = [];
    dhcp.staticLeases.forEach((l, i) => {
      const at: Segment[] = ['lan', 'dhcp', 'staticLeases', i];
      macs.push({ value: l.mac.toLowerCase(), segments: [...at, 'mac'] });
      const a = address(l.address);
      addrs.push({ value: formatAddress(a), segments: [...at, 'address'] });
      if (!onLan([...at, 'address'], a, l.address, 'a static lease')) return;
      if (a.value === lanHost) c.add([...at, 'address'], `${l.address} is this appliance's address (lan.address)`);
      const vip = vips.find((v) => v.family === 4 && v.value === a.value);
      if (vip) c.add([...at, 'address'], `${l.address} is a VIP (${c.ref(vip.segments)})`);
      const r = ranges.find((x) => a.value >= x.start && a.value <= x.end);
      if (r) c.add([...at, 'address'], `${l.address} is inside the DHCP range at ${c.ref(r.segments)}; a static lease must be outside every range, or dnsmasq may hand it to another host`);
    });
    c.unique(macs, 'static lease MAC');
    c.unique(addrs, 'static lease address');
    if (dhcp.router !== undefined) onLan(['lan', 'dhcp', 'router'], address(dhcp.router), dhcp.router, 'the router handed out');
    // Resolvers and NTP servers may be anywhere routed, but option 6 and 42 carry IPv4 unicast addresses.
    const servers = (key: 'dnsServers' | 'ntpServers', what: string): void => (dhcp[key] ?? []).forEach((t, i) => {
      const a = address(t);
      if (at4(['lan', 'dhcp', key, i], a, t, what)) c.unicast(['lan', 'dhcp', key, i], a, t, what);
    });
    servers('dnsServers', 'a DNS server handed out');
    servers('ntpServers', 'an NTP server handed out');
  }
  const dns = cfg.lan.dns;
  const ownWans = cfg.wans.map((w) => w.name);
  dns?.upstreams.forEach((u, i) => {
    const at: Segment[] = ['lan', 'dns', 'upstreams', i];
    c.unicast([...at, 'address'], address(u.address), u.address, 'an upstream resolver');
    // dnsmasq sends through the WAN's interface, so only this box's WANs qualify.
    if (u.wan !== undefined && !ownWans.includes(u.wan)) c.add([...at, 'wan'], `no WAN '${u.wan}' on this appliance; WANs: ${list(ownWans)}`);
    const wan = cfg.wans.find((w) => w.name === u.wan);
    if (wan && !plainIfname.test(wan.interface)) c.add([...at, 'wan'], `WAN '${wan.name}' has interface '${wan.interface}', which cannot be given to dnsmasq; use letters, digits, '.', '_' and '-' in its name`);
  });
  const domainClasses = cfg.appClasses.map((a, i) => ({ a, i })).filter(({ a }) => a.match.domains !== undefined);
  if (domainClasses.length > maxDomainClasses) {
    c.add(['appClasses', (domainClasses[maxDomainClasses] as { i: number }).i, 'match', 'domains'], `more than ${maxDomainClasses} app classes match by domains; the mark carries at most ${maxDomainClasses}`);
  }
  const seen: Array<{ value: string; segments: Segment[] }> = [];
  for (const { a, i } of domainClasses) {
    const at: Segment[] = ['appClasses', i, 'match', 'domains'];
    if (dns?.enabled !== true) c.add(at, `app class '${a.name}' matches by domains, which are learned from the box's DNS answers: enable lan.dns`);
    (a.match.domains ?? []).forEach((d, j) => {
      if (d.startsWith('*.')) {
        // dnsmasq's nftset matches a domain and every name below it; it cannot leave the domain itself out.
        c.add([...at, j], `'${d}' (subdomains only) cannot be learned: the box's DNS (dnsmasq) matches a domain together with all its subdomains; write '${d.slice(2)}'`);
      }
      seen.push({ value: d.toLowerCase().replace(/\.$/, ''), segments: [...at, j] });
    });
  }
  // dnsmasq puts a name's addresses in one set only: a domain in two classes would go to the later one, against the order app classes match in.
  c.unique(seen, 'domain');
}

/** Every semantic problem of a schema-valid config (defaults applied). */
export function semanticProblems(cfg: TernConfig, lineOf: LineOf): SemanticProblem[] {
  const c = new Checker(lineOf);
  checkWans(c, cfg);
  checkLan(c, cfg);
  checkOverlay(c, cfg);
  checkAddressing(c, cfg);
  checkPair(c, cfg);
  checkProbesAndQos(c, cfg);
  checkSteering(c, cfg);
  checkListeners(c, cfg);
  checkLanServices(c, cfg);
  checkFirewall(c, cfg);
  return c.problems;
}
