// What the kernel should hold for the overlay, computed from the config, the
// path plan, the keys and which path each site currently prefers. Pure: the
// reconciler compares it with what the kernel has.
import type { TernConfig } from '../lib/config/index.js';
import type { DesiredDevice, RouteSpec, RuleSpec } from '../lib/kernel/index.js';
import { overlayPlan, remoteAccessIfname, rulePriority, type OverlayPlan, type PathPlan } from '../lib/overlay/index.js';

/** Tern's routes in the main table carry this metric, which is how the reconciler knows them. */
export const mainRouteMetric = 50;

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
}

const hostLen = (addr: string): string => (addr.includes(':') ? '/128' : '/32');
const bare = (cidr: string): string => cidr.split('/')[0]!;
const formatEndpoint = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

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

  // Each WAN's own table sends what is marked for it out of that WAN, so a
  // tunnel's outer packets leave by the WAN the path is named after.
  for (const w of plan.wans) {
    if (w.gateway) routes.push({ dst: w.gateway.includes(':') ? '::/0' : '0.0.0.0/0', table: w.table, gateway: w.gateway, dev: w.interface });
    rules.push({ priority: rulePriority.wanMark, fwmark: w.mark, table: w.table, family: 4 });
  }

  // Traffic this box itself sends over the overlay (pings, probes to LAN
  // addresses, ternctl) leaves from its own LAN address: the overlay address
  // is shared by both boxes of a PAIR, so a reply to it could land on the
  // other box.
  const src = bare(cfg.lan.address);
  const srcFor = (dst: string): { src?: string } => (dst.includes(':') === src.includes(':') ? { src } : {});
  const wanMark = new Map(plan.wans.map((w) => [w.name, w.mark]));
  for (const p of plan.paths) {
    const host = inp.resolved.get(p.endpointHost) ?? p.endpointHost;
    const endpointKnown = /^[0-9.]+$|:/.test(host);
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
          ...(!p.behindNat && endpointKnown ? { endpoint: formatEndpoint(host, p.endpointPort) } : {}),
          allowedIps,
          ...(o.keepaliveSec > 0 ? { persistentKeepalive: o.keepaliveSec } : {}),
        }],
      },
    });
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
  return { plan, interfaces, routes, rules, active };
}

function canonicalHost(cidr: string): string {
  return `${bare(cidr)}${hostLen(bare(cidr))}`;
}

function siteKey(cfg: TernConfig, site: string): string {
  return cfg.overlay.sites.find((s) => s.id === site)!.publicKey;
}
