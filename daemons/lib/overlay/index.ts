// Package overlay derives the overlay's path plan from the config: which
// tunnels exist, and their interface names, ports, tables, marks and
// link-local addresses — computed the same way on every site, so two sites
// agree on a tunnel's ports without talking to each other.
import { parseAddress, parsePrefix } from '../ip/index.js';
import type { TernConfig } from '../config/index.js';
import { wanTables } from '../config/tables.js';
import { ifnamePrefix, pathMarkBase, pathTableBase, wanMarkBase } from '../kernel/names.js';

/** At most this many WANs per site (both PAIR boxes together): slots 0-3. */
export const maxWanSlots = 4;

/**
 * The remote-access interface of a box: tnra<site>-<its lowest WAN slot>, so
 * the two boxes of a PAIR never share a name.
 */
export function remoteAccessIfname(plan: Pick<OverlayPlan, 'siteNumber' | 'wans'>): string {
  const slot = plan.wans.length ? Math.min(...plan.wans.map((w) => w.slot)) : 0;
  return `${ifnamePrefix}ra${plan.siteNumber}-${slot}`;
}

/** One overlay path: a WireGuard tunnel from one local WAN to one remote WAN. */
export interface PathPlan {
  /** localWan/site/remoteWan, as config and ternctl write it. */
  name: string;
  /** 16 × remote site number + 4 × local slot + remote slot; unique on this site. */
  index: number;
  site: string;
  siteNumber: number;
  localWan: string;
  localSlot: number;
  remoteWan: string;
  remoteSlot: number;
  /**
   * WireGuard interface tn<own site>-<remote site>-<own slot><remote slot>,
   * e.g. tn1-3-01: unique across the whole overlay, so it names both ends,
   * and wireguard-go's machine-wide socket directory never sees a clash in
   * the lab, where every box shares one kernel.
   */
  ifname: string;
  /** UDP port this end listens on. */
  listenPort: number;
  /** Remote host (name or address) and port of the other end. */
  endpointHost: string;
  endpointPort: number;
  behindNat: boolean;
  /** Routing table and fwmark the steering daemon uses for this path. */
  table: number;
  mark: number;
  /** Link-local addresses of the two ends (probes run between them). */
  localLinkAddress: string;
  remoteLinkAddress: string;
  /** The remote site's overlay address and LAN prefixes (AllowedIPs). */
  remoteOverlayAddress: string;
  remotePrefixes: string[];
}

/** Everything tunneld needs to know about one local WAN. */
export interface WanPlan {
  name: string;
  slot: number;
  interface: string;
  table: number;
  mark: number;
  gateway: string | undefined;
}

export interface OverlayPlan {
  siteNumber: number;
  /** This site's overlay address without prefix length. */
  overlayAddress: string;
  wans: WanPlan[];
  paths: PathPlan[];
}

/**
 * A site's number is its overlay address's host part within the overlay
 * network: 100.64.0.3 in 100.64.0.0/24 is site 3. Sites already need unique
 * overlay addresses, so numbering them again by hand would only add a way
 * to get it wrong.
 */
export function siteNumber(overlayNetwork: string, siteAddress: string): number {
  const net = parsePrefix(overlayNetwork, 'allow');
  const addr = parseAddress(siteAddress.split('/')[0]!);
  if (!net.ok || !addr.ok) throw new Error(`overlay: site number: cannot parse ${overlayNetwork} / ${siteAddress}`);
  return Number(addr.value.value - net.value.network);
}

/**
 * WAN slots: the site's WAN names sorted. Both boxes of a PAIR (own WANs +
 * pair.peerWans) and every remote site (its view of our WANs) sort the same
 * names, so they agree on the slots.
 */
export function wanSlots(names: readonly string[]): Map<string, number> {
  return new Map([...new Set(names)].sort().map((n, i) => [n, i]));
}

/** The port site A listens on for its tunnel to site B (A's slot a, B's slot b). */
export function tunnelPort(basePort: number, otherSiteNumber: number, ownSlot: number, otherSlot: number): number {
  return basePort + 16 * otherSiteNumber + maxWanSlots * ownSlot + otherSlot;
}

/** The link-local address of one end of a path: fe80::<site>:<slot>. */
export function linkAddress(site: number, slot: number): string {
  return `fe80::${site.toString(16)}:${slot.toString(16)}`;
}

function splitEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(endpoint) ?? /^([^:]+):(\d+)$/.exec(endpoint);
  if (!m) throw new Error(`overlay: endpoint ${endpoint}: want host:port or [v6]:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * The sites this box builds tunnels to: every site in a mesh; in hub-spoke,
 * the hub builds to every site and a spoke only to the hub.
 */
export function tunnelSites(cfg: TernConfig): TernConfig['overlay']['sites'] {
  const o = cfg.overlay;
  if (o.topology !== 'hub-spoke' || o.hub === cfg.identity.site) return o.sites;
  return o.sites.filter((s) => s.id === o.hub);
}

/**
 * Prefixes reached through a site's tunnels: its overlay address and LANs,
 * and for a spoke's hub also every other site's (the hub forwards them).
 */
export function prefixesVia(cfg: TernConfig, site: TernConfig['overlay']['sites'][number]): string[] {
  const own = [hostRoute(site.overlayAddress), ...site.lanPrefixes];
  const o = cfg.overlay;
  if (o.topology !== 'hub-spoke' || o.hub !== site.id) return own;
  const others = o.sites.filter((s) => s.id !== site.id).flatMap((s) => [hostRoute(s.overlayAddress), ...s.lanPrefixes]);
  return [...own, ...others];
}

function hostRoute(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

/** The whole plan for one appliance. */
export function overlayPlan(cfg: TernConfig): OverlayPlan {
  const o = cfg.overlay;
  const ownNumber = siteNumber(o.address, o.address);
  const slots = wanSlots([...cfg.wans.map((w) => w.name), ...(cfg.pair?.peerWans ?? [])]);
  const tables = wanTables(cfg);
  const wans: WanPlan[] = cfg.wans.map((w) => ({
    name: w.name,
    slot: slots.get(w.name)!,
    interface: w.interface,
    table: tables.get(w.name)!,
    mark: wanMarkBase + tables.get(w.name)!,
    gateway: w.gateway,
  }));
  const paths: PathPlan[] = [];
  for (const site of tunnelSites(cfg)) {
    const number = siteNumber(o.address, site.overlayAddress);
    const remoteSlots = wanSlots(site.wans.map((w) => w.name));
    for (const wan of wans) {
      for (const rw of site.wans) {
        const remoteSlot = remoteSlots.get(rw.name)!;
        const index = 16 * number + maxWanSlots * wan.slot + remoteSlot;
        const ep = splitEndpoint(rw.endpoint);
        paths.push({
          name: `${wan.name}/${site.id}/${rw.name}`,
          index,
          site: site.id,
          siteNumber: number,
          localWan: wan.name,
          localSlot: wan.slot,
          remoteWan: rw.name,
          remoteSlot,
          ifname: `${ifnamePrefix}${ownNumber}-${number}-${wan.slot}${remoteSlot}`,
          listenPort: tunnelPort(o.listenPort, number, wan.slot, remoteSlot),
          endpointHost: ep.host,
          endpointPort: tunnelPort(ep.port, ownNumber, remoteSlot, wan.slot),
          behindNat: rw.behindNat,
          table: pathTableBase + index,
          mark: pathMarkBase + index,
          localLinkAddress: linkAddress(ownNumber, wan.slot),
          remoteLinkAddress: linkAddress(number, remoteSlot),
          remoteOverlayAddress: site.overlayAddress,
          remotePrefixes: prefixesVia(cfg, site),
        });
      }
    }
  }
  paths.sort((a, b) => a.index - b.index);
  return { siteNumber: ownNumber, overlayAddress: o.address.split('/')[0]!, wans, paths };
}
