// Checks a schema cannot express: names that must be unique, references that
// must resolve, prefixes that must not overlap, settings that need each other.
import {
  formatAddress, formatPrefix, isHostPrefix, parseAddress, parsePrefix, prefixContains, prefixesOverlap, type IpAddress, type IpPrefix,
} from './cidr.js';
import type { Anchor } from './explain.js';
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
const address = (text: string): IpAddress => (parseAddress(text) as { value: IpAddress }).value;
const prefix = (text: string): IpPrefix => (parsePrefix(text, 'allow') as { value: IpPrefix }).value;

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

  constructor(private readonly lineOf: LineOf) {}

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
    claims.forEach((c, i) => {
      const clash = claims.slice(0, i).find((o) => prefixesOverlap(o.prefix, c.prefix));
      if (clash) {
        this.add(c.segments, `${c.what} ${formatPrefix(c.prefix)} overlaps ${clash.what} ${formatPrefix(clash.prefix)} at ${this.ref(clash.segments)}`);
      }
    });
  }
}

function checkWans(c: Checker, cfg: TernConfig): void {
  c.unique(cfg.wans.map((w, i) => ({ value: w.name, segments: ['wans', i, 'name'] })), 'WAN name');
  c.unique(cfg.wans.map((w, i) => ({ value: w.interface, segments: ['wans', i, 'interface'] })), 'WAN interface');
  const tables = cfg.wans.flatMap((w, i) => (w.table === undefined ? [] : [{ value: String(w.table), segments: ['wans', i, 'table'] }]));
  c.unique(tables, 'routing table');
  cfg.wans.forEach((w, i) => {
    const at: Segment[] = ['wans', i];
    if (w.interface === cfg.lan.interface) c.add([...at, 'interface'], `interface '${w.interface}' is the LAN interface (lan.interface)`);
    if (w.address !== undefined && w.dhcp) c.add([...at, 'dhcp'], 'set either a static address or dhcp: true, not both');
    if (w.address === undefined && !w.dhcp) c.add([...at, 'address'], "missing required key 'address': static address with prefix length, or set dhcp: true", 'parent');
    if (w.address !== undefined && w.gateway === undefined) c.add([...at, 'gateway'], "missing required key 'gateway': the next hop, required with a static address", 'parent');
    if (w.address !== undefined && w.gateway !== undefined) {
      const a = prefix(w.address);
      const g = address(w.gateway);
      if (g.family !== a.family) c.add([...at, 'gateway'], `gateway ${w.gateway} is IPv${g.family} but address ${w.address} is IPv${a.family}`);
      else if (g.value === a.address) c.add([...at, 'gateway'], `gateway ${w.gateway} is this WAN's own address`);
    }
  });
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
  if (net.address === net.network && net.length < (net.family === 4 ? 31 : 127)) {
    c.add(['overlay', 'address'], `${o.address} is the network address of its prefix; give this site a host address in it`);
  }
  o.sites.forEach((s, i) => {
    if (!prefixContains(net, address(s.overlayAddress))) {
      c.add(['overlay', 'sites', i, 'overlayAddress'], `${s.overlayAddress} is outside the overlay network ${formatPrefix(net)} (overlay.address)`);
    }
  });
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
}

function checkAddressing(c: Checker, cfg: TernConfig): void {
  // Prefixes routed to a LAN or a WAN; with the overlay network, none may overlap.
  const routed: Claim[] = [];
  cfg.lan.prefixes.forEach((p, i) => routed.push({ prefix: prefix(p), segments: ['lan', 'prefixes', i], what: 'LAN prefix' }));
  cfg.overlay.sites.forEach((s, i) => s.lanPrefixes.forEach((p, j) => {
    routed.push({ prefix: prefix(p), segments: ['overlay', 'sites', i, 'lanPrefixes', j], what: `LAN prefix of site '${s.id}'` });
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
  const sites = overlayAddresses(cfg);
  const userClaims: Claim[] = [...routed];
  cfg.remoteUsers.forEach((u, i) => {
    const at: Segment[] = ['remoteUsers', i, 'address'];
    const p = prefix(u.address);
    if (!isHostPrefix(p)) {
      c.add(at, `must be a host prefix (/${p.family === 4 ? 32 : 128}); got ${u.address}`);
      return;
    }
    const clash = userClaims.find((x) => prefixesOverlap(x.prefix, p));
    if (clash) {
      c.add(at, `${u.address} overlaps ${clash.what} ${formatPrefix(clash.prefix)} at ${c.ref(clash.segments)}`);
      return;
    }
    const site = sites.find((x) => x.address.family === p.family && x.address.value === p.address);
    if (site) {
      c.add(at, `${u.address} is a site's overlay address (${c.ref(site.segments)})`);
      return;
    }
    userClaims.push({ prefix: p, segments: at, what: `address of remote user '${u.name}'` });
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
  const families = new Set(pair.vips.map((v) => prefix(v).family));
  if (families.size > 1) c.add(['pair', 'vips'], 'mixes IPv4 and IPv6; a VRRP instance carries one address family');
  c.unique(pair.vips.map((v, i) => ({ value: formatPrefix(prefix(v), 'address'), segments: ['pair', 'vips', i] })), 'VIP');
  let owner = false;
  pair.vips.forEach((v, i) => {
    const p = prefix(v);
    if (onLan && p.family === lanAddress.family && !prefixContains(lanAddress, { family: p.family, value: p.address })) {
      c.add(['pair', 'vips', i], `${v} is outside the LAN subnet ${formatPrefix(lanAddress)} (lan.address)`);
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
  pair.unicastPeers.forEach((a, i) => {
    const p = address(a);
    if (p.family !== vipFamily) c.add(['pair', 'unicastPeers', i], `${a} is IPv${p.family} but the VIPs are IPv${vipFamily}`);
    else if (p.value === lanAddress.address) c.add(['pair', 'unicastPeers', i], `${a} is this appliance's own address`);
  });
}

function checkProbesAndQos(c: Checker, cfg: TernConfig): void {
  const wanNames = cfg.wans.map((w) => w.name);
  const known = (segments: Segment[], name: string): void => {
    if (!wanNames.includes(name)) c.add(segments, `no WAN '${name}'; WANs: ${list(wanNames)}`);
  };
  cfg.probes.wans.forEach((p, i) => known(['probes', 'wans', i, 'wan'], p.wan));
  c.unique(cfg.probes.wans.map((p, i) => ({ value: p.wan, segments: ['probes', 'wans', i, 'wan'] })), 'probes entry for WAN');

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
    if (!m.prefixes && !m.protocols && !m.ports && !m.dscp) {
      c.add([...at, 'match'], 'matches nothing: give at least one of prefixes, protocols, ports, dscp');
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

/** Every semantic problem of a schema-valid config (defaults applied). */
export function semanticProblems(cfg: TernConfig, lineOf: LineOf): SemanticProblem[] {
  const c = new Checker(lineOf);
  checkWans(c, cfg);
  checkOverlay(c, cfg);
  checkAddressing(c, cfg);
  checkPair(c, cfg);
  checkProbesAndQos(c, cfg);
  checkSteering(c, cfg);
  return c.problems;
}
