// What the kernel should hold for the overlay, computed from the config, the
// path plan, the keys and which path each site currently prefers. Pure: the
// reconciler compares it with what the kernel has.
import type { TernConfig } from '../lib/config/index.js';
import { formatIp, parseIp, type DesiredDevice, type DhcpWan, type RouteSpec, type RuleSpec } from '../lib/kernel/index.js';
import { rulePriority } from '../lib/kernel/names.js';
import { overlayPlan, remoteAccessIfname, type OverlayPlan, type PathPlan } from '../lib/overlay/index.js';
import type { PathReading } from './status.js';

/** Tern's routes in the main table carry this metric, which is how the reconciler knows them. */
export const mainRouteMetric = 50;

/**
 * Each WAN table ends in an unreachable default route at the last metric
 * (the WAN guard): while the table has no route out of its WAN (a DHCP WAN
 * before its lease, a WAN link taken down and its routes flushed), what is
 * marked for the WAN fails there instead of falling through to main and
 * leaving by another WAN. A tunnel's outer packets sent by another WAN
 * would make the remote end roam to that WAN's address, and the path named
 * for one WAN would run over another.
 */
export const wanGuardMetric = 0xffffffff;

/** One WireGuard interface with its addresses. */
export interface DesiredInterface {
  ifname: string;
  device: DesiredDevice;
  /** Interface addresses (CIDR). */
  addresses: string[];
  mtu: number;
  /** The path it carries; undefined for the remote-access interface. */
  path?: PathPlan;
}

export interface DesiredState {
  plan: OverlayPlan;
  interfaces: DesiredInterface[];
  /** Routes in Tern's tables (WAN and path tables) and Tern's main-table routes. */
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** Per site: the path the main table sends its traffic through. */
  active: Map<string, string>;
  /**
   * Tables the reconciler leaves as the kernel has them (adopts): a path's
   * while nothing has read the path since start, a DHCP WAN's while no
   * reading of the main table has succeeded since start.
   */
  keptTables: Set<number>;
}

export interface DesiredInputs {
  config: TernConfig;
  privateKey: string;
  /** Site id → preshared key (secret). */
  presharedKeys: Map<string, string>;
  /** User name → preshared key (secret). */
  userPresharedKeys: Map<string, string>;
  /** Site id → resolved address for each remote WAN endpoint host. */
  resolved: Map<string, string>;
  /** Paths known to be up (by name); the main table prefers them. */
  upPaths: ReadonlySet<string>;
  /**
   * Path name → tunneld's last WireGuard reading of it, which decides its
   * table (pathTableAction). A path missing, or no map at all, has its
   * table filled, as when nothing tracks readings.
   */
  pathReadings?: ReadonlyMap<string, PathReading>;
  /**
   * DHCP WAN name → the gateways its DHCP client (or router advertisements)
   * put in main, IPv4 first; a DHCP WAN missing has none (no lease).
   * Undefined until a reading of main succeeded since start: the DHCP WANs'
   * tables are kept as the kernel has them.
   */
  dhcpGateways?: ReadonlyMap<string, readonly string[]>;
}

/**
 * What a path's table holds, from the last reading of the path: 'fill'
 * (routes to the remote prefixes through the path's tunnel), 'empty', or
 * 'keep' (as the kernel has it). steerd pins a flow to a path by a mark
 * whose rule looks up the path's table; an empty table lets the lookup fall
 * through to main, whose route tunneld points at an up path (activePaths),
 * so a flow pinned to a dead path fails open when steerd is gone or slow.
 *   up      fill
 *   down    empty: the device answered with no fresh handshake
 *   failed  fill: never empty a table for want of news (treated as up)
 *   none    keep: no reading since start (a restart adopts, never flaps),
 *           or no interface yet (its routes went with it)
 */
export function pathTableAction(reading: PathReading | undefined): 'fill' | 'empty' | 'keep' {
  if (reading === 'down') return 'empty';
  if (reading === 'none') return 'keep';
  return 'fill';
}

/** The WANs whose gateway is learned from the kernel (dhcp: true), with their interface and table. */
export function dhcpWans(cfg: TernConfig, plan: OverlayPlan = overlayPlan(cfg)): DhcpWan[] {
  return plan.wans.flatMap((w) => (!w.gateway && cfg.wans.some((c) => c.name === w.name && c.dhcp)
    ? [{ wan: w.name, device: w.interface, table: w.table }] : []));
}

const hostLen = (addr: string): string => (addr.includes(':') ? '/128' : '/32');
/** The kernel's spelling of an address (RFC 5952), so a configured 2001:DB8::1 matches what it lists. */
const canonicalIp = (addr: string): string => formatIp(parseIp(addr).bytes);
const bare = (cidr: string): string => cidr.split('/')[0]!;
const formatEndpoint = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * The endpoint tunneld sets on a path's peer: the remote WAN's address as
 * the config names it (a name as resolved) and the path's port. Undefined
 * for a remote WAN behind NAT (behindNat: reached where it last spoke from,
 * WireGuard's roaming decides) and for a name not resolved yet.
 */
export function pathEndpoint(p: PathPlan, resolved: ReadonlyMap<string, string>): string | undefined {
  if (p.behindNat) return undefined;
  const host = resolved.get(p.endpointHost) ?? p.endpointHost;
  if (!/^[0-9.]+$|:/.test(host)) return undefined;
  return formatEndpoint(host, p.endpointPort);
}

/** What the unsteered route weighs of a local WAN: volume billing, then its cost. */
export interface WanCost {
  metered: boolean;
  cost: number;
}

/**
 * The path each site's traffic takes when nothing steers it (steerd gone,
 * or traffic it does not queue): among the paths that are up, one over an
 * unmetered local WAN before a metered one (an LTE backup is billed by
 * volume), then the cheaper WAN, then plan order (lowest local WAN slot,
 * then remote slot). With none up, the same order among all of them (the
 * route must point somewhere; a tunnel may come up). WANs missing from
 * wans count as unmetered, cost 10 (the config's default).
 */
export function activePaths(paths: readonly PathPlan[], up: ReadonlySet<string>, wans: ReadonlyMap<string, WanCost> = new Map()): Map<string, string> {
  const weight = (p: PathPlan): [number, number, number] => {
    const w = wans.get(p.localWan);
    return [up.has(p.name) ? 0 : 1, w?.metered ? 1 : 0, w?.cost ?? 10];
  };
  const better = (a: PathPlan, b: PathPlan): boolean => {
    const [x, y] = [weight(a), weight(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
    return false; // equal: plan order keeps the first
  };
  const best = new Map<string, PathPlan>();
  for (const p of paths) {
    const cur = best.get(p.site);
    if (cur === undefined || better(p, cur)) best.set(p.site, p);
  }
  return new Map([...best].map(([site, p]) => [site, p.name]));
}

export function desiredState(inp: DesiredInputs): DesiredState {
  const cfg = inp.config;
  const plan = overlayPlan(cfg);
  const o = cfg.overlay;
  const interfaces: DesiredInterface[] = [];
  const routes: RouteSpec[] = [];
  const rules: RuleSpec[] = [];
  const overlayHost = `${plan.overlayAddress}${hostLen(plan.overlayAddress)}`;
  const keptTables = new Set<number>();

  // Each WAN's own table sends what is marked for it out of that WAN, so a
  // tunnel's outer packets leave by the WAN the path is named after. A DHCP
  // WAN's gateway is the one its client put in main (dhcpGateways): without
  // it here, what is marked for the WAN would fall through to main's
  // default route, whichever WAN that leaves by.
  const dhcp = new Set(dhcpWans(cfg, plan).map((w) => w.wan));
  for (const w of plan.wans) {
    const learned = dhcp.has(w.name);
    if (learned && !inp.dhcpGateways) keptTables.add(w.table);
    if (w.gateway) routes.push({ dst: w.gateway.includes(':') ? '::/0' : '0.0.0.0/0', table: w.table, gateway: canonicalIp(w.gateway), dev: w.interface });
    for (const gw of learned ? inp.dhcpGateways?.get(w.name) ?? [] : []) {
      const v6 = gw.includes(':');
      // The gateway is on the WAN's link (main's route says so), but a
      // lease may give one outside the interface's subnet (classless
      // static routes: `onlink` in main). The kernel takes a route via a
      // gateway only if some link-scope route covers it, and main's onlink
      // flag is not one: the host route says it in the WAN's own table. An
      // IPv6 link-local gateway needs no saying.
      if (!/^fe80:/i.test(gw)) routes.push({ dst: `${canonicalIp(gw)}${hostLen(gw)}`, table: w.table, dev: w.interface });
      routes.push({ dst: v6 ? '::/0' : '0.0.0.0/0', table: w.table, gateway: canonicalIp(gw), dev: w.interface });
    }
    rules.push({ priority: rulePriority.wanMark, fwmark: w.mark, table: w.table, family: 4 });
    routes.push({ dst: '0.0.0.0/0', table: w.table, type: 'unreachable', metric: wanGuardMetric });
    // IPv6 too where the WAN can carry it: a configured IPv6 gateway, or
    // DHCP (DHCPv6 or router advertisements may give it an IPv6 default
    // route at any time). A DHCP WAN has the rule whether or not a lease
    // holds one: while its table has no IPv6 route the lookup falls through
    // to the next rule as if there were none, and a lease that comes and
    // goes changes the route only, never the rules.
    if (learned || w.gateway?.includes(':')) {
      rules.push({ priority: rulePriority.wanMark, fwmark: w.mark, table: w.table, family: 6 });
      routes.push({ dst: '::/0', table: w.table, type: 'unreachable', metric: wanGuardMetric });
    }
  }

  // Traffic this box itself sends over the overlay (pings, probes to LAN
  // addresses, ternctl) leaves from its own LAN address: the overlay address
  // is shared by both boxes of a PAIR, so a reply to it could land on the
  // other box.
  const src = bare(cfg.lan.address);
  const srcFor = (dst: string): { src?: string } => (dst.includes(':') === src.includes(':') ? { src } : {});
  const wanMark = new Map(plan.wans.map((w) => [w.name, w.mark]));
  for (const p of plan.paths) {
    const endpoint = pathEndpoint(p, inp.resolved);
    const allowedIps = [...p.remotePrefixes, 'fe80::/64'];
    interfaces.push({
      ifname: p.ifname,
      path: p,
      mtu: o.mtu,
      addresses: [overlayHost, `${p.localLinkAddress}/64`],
      device: {
        privateKey: inp.privateKey,
        listenPort: p.listenPort,
        fwmark: wanMark.get(p.localWan)!,
        peers: [{
          publicKey: siteKey(cfg, p.site),
          ...(inp.presharedKeys.has(p.site) ? { presharedKey: inp.presharedKeys.get(p.site)! } : {}),
          // A remote WAN behind NAT is reached where it last spoke from:
          // leave its endpoint to WireGuard's roaming.
          ...(endpoint ? { endpoint } : {}),
          allowedIps,
          ...(o.keepaliveSec > 0 ? { persistentKeepalive: o.keepaliveSec } : {}),
        }],
      },
    });
    const table = pathTableAction(inp.pathReadings?.get(p.name));
    if (table === 'keep') keptTables.add(p.table);
    if (table !== 'fill') continue;
    for (const dst of p.remotePrefixes) routes.push({ dst, table: p.table, dev: p.ifname, ...srcFor(dst) });
  }

  const active = activePaths(plan.paths, inp.upPaths, new Map(cfg.wans.map((w) => [w.name, { metered: w.metered, cost: w.cost }])));
  for (const p of plan.paths) {
    if (active.get(p.site) !== p.name) continue;
    for (const dst of p.remotePrefixes) routes.push({ dst, table: 254, dev: p.ifname, metric: mainRouteMetric, ...srcFor(dst) });
  }

  const users = cfg.remoteUsers.filter((u) => !u.revoked);
  const raIfname = remoteAccessIfname(plan);
  if (cfg.remoteUsers.length > 0) {
    interfaces.push({
      ifname: raIfname,
      mtu: o.mtu,
      addresses: [overlayHost],
      device: {
        privateKey: inp.privateKey,
        listenPort: o.remoteUserPort,
        peers: users.map((u) => ({
          publicKey: u.publicKey,
          ...(inp.userPresharedKeys.has(u.name) ? { presharedKey: inp.userPresharedKeys.get(u.name)! } : {}),
          allowedIps: [u.address],
        })),
      },
    });
    for (const u of users) routes.push({ dst: canonicalHost(u.address), table: 254, dev: raIfname, metric: mainRouteMetric });
  }
  return { plan, interfaces, routes, rules, active, keptTables };
}

function canonicalHost(cidr: string): string {
  return `${bare(cidr)}${hostLen(bare(cidr))}`;
}

function siteKey(cfg: TernConfig, site: string): string {
  return cfg.overlay.sites.find((s) => s.id === site)!.publicKey;
}
