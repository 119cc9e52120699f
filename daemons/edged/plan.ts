// What edged puts in the kernel, derived from the config alone: the zones'
// interfaces, the ports Tern serves on the WANs, the sources no WAN may
// send from, NAT per WAN, port forwards and the configured zone rules.
// Facts learnt at run time (peers' resolved endpoint addresses) are not
// part of it: they go into sets that change without reloading the chains.
import type { FirewallRule, FirewallZone, TernConfig } from '../lib/config/index.js';
import { splitHostPort } from '../lib/config/formats.js';
import { formatPrefix, parseAddress, parsePrefix, prefixContains, type IpPrefix } from '../lib/ip/index.js';
import { overlayPlan } from '../lib/overlay/index.js';
import { zoneInterfaces, type ZoneInterfaces } from '../lib/zones/index.js';

export interface WanNat {
  name: string;
  interface: string;
  nat: 'masquerade' | 'snat' | 'off';
  /** The static address SNAT rewrites to (nat: snat). */
  snatTo?: string;
  /** The WAN takes its address by DHCP: its DHCP server's replies are let in. */
  dhcp: boolean;
}

export interface ForwardPlan {
  name: string;
  /** WAN interfaces it is open on. */
  interfaces: string[];
  protocol: 'tcp' | 'udp';
  /** '8080' or '6000-6010'. */
  port: string;
  to: string;
  family: 4 | 6;
  toPort?: number;
  /** Source prefixes of the forward's family; empty: any. */
  sources: string[];
}

export interface EdgePlan {
  firewall: boolean;
  internet: boolean;
  icmpRatePerSec: number;
  zones: ZoneInterfaces;
  wans: WanNat[];
  /** UDP ports WireGuard listens on: every tunnel's, and remote users' when there are any. */
  wireguardPorts: number[];
  /** The probe reflector's UDP port (STAMP): from the WAN only for known peers. */
  stampPort: number;
  /** TCP port of the metrics endpoint when it listens beyond loopback: open to the overlay and the LAN. */
  metricsPort?: number;
  /** Sources never valid on a WAN, per family (prefixes). */
  spoof4: string[];
  spoof6: string[];
  /** Literal peer addresses from the config (remote sites' WAN endpoints). */
  peers4: string[];
  peers6: string[];
  forwards: ForwardPlan[];
  rules: FirewallRule[];
}

const familyOf = (text: string): 4 | 6 => (text.includes(':') ? 6 : 4);
const hostOf = (text: string): string => text.split('/')[0]!;

function parsed(text: string): IpPrefix | undefined {
  const p = parsePrefix(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`, 'allow');
  return p.ok ? p.value : undefined;
}

/**
 * The sources that cannot arrive from a WAN: this site's LAN prefixes, the
 * overlay network, remote users' addresses, remote sites' LAN prefixes and
 * the box's own addresses. A prefix that holds a WAN's own subnet or
 * gateway (a hub's 0.0.0.0/0 among a site's LANs, say) is left out: it
 * would drop everything the ISP sends.
 */
export function spoofPrefixes(cfg: TernConfig): string[] {
  const candidates = [
    ...cfg.lan.prefixes,
    cfg.overlay.address,
    ...cfg.remoteUsers.map((u) => u.address),
    ...cfg.overlay.sites.flatMap((s) => [...s.lanPrefixes, s.overlayAddress]),
    hostOf(cfg.lan.address),
    ...(cfg.pair?.vips ?? []).map(hostOf),
  ];
  const wanSide = cfg.wans.flatMap((w) => [w.address, w.gateway].filter((x): x is string => x !== undefined)).map((x) => parsed(x)!).filter(Boolean);
  const out = new Set<string>();
  for (const c of candidates) {
    const p = parsed(c);
    if (!p || p.length === 0) continue;
    const network = { family: p.family, value: p.network };
    if (wanSide.some((w) => w.family === p.family && (prefixContains(p, { family: w.family, value: w.address }) || prefixContains(w, network)))) continue;
    out.add(formatPrefix(p));
  }
  return [...out].sort();
}

/** Remote sites' WAN endpoints written as addresses (names are resolved by tunneld and learnt from it). */
export function literalPeers(cfg: TernConfig): string[] {
  const out = new Set<string>();
  for (const s of cfg.overlay.sites) {
    for (const w of s.wans) {
      const hp = splitHostPort(w.endpoint);
      if (typeof hp === 'string') continue;
      const a = parseAddress(hp.host);
      if (a.ok) out.add(hp.host);
    }
  }
  return [...out].sort();
}

/** A port forward's WAN port as nft writes it. */
const portText = (p: number | string): string => String(p);

export function edgePlan(cfg: TernConfig): EdgePlan {
  const zones = zoneInterfaces(cfg);
  const plan = overlayPlan(cfg);
  const wg = new Set(plan.paths.map((p) => p.listenPort));
  if (cfg.remoteUsers.length > 0) wg.add(cfg.overlay.remoteUserPort);
  const metricsPort = (() => {
    if (!cfg.metrics.enabled) return undefined;
    const hp = splitHostPort(cfg.metrics.listen);
    if (typeof hp === 'string') return undefined;
    return /^(127\.|::1$|localhost$)/.test(hp.host) ? undefined : Number(hp.port);
  })();
  const spoof = spoofPrefixes(cfg);
  const peers = literalPeers(cfg);
  const wanIf = new Map(cfg.wans.map((w) => [w.name, w.interface]));
  return {
    firewall: cfg.firewall.enabled,
    internet: cfg.internet.enabled,
    icmpRatePerSec: cfg.firewall.icmpRatePerSec,
    zones,
    wans: cfg.wans.map((w) => ({
      name: w.name,
      interface: w.interface,
      nat: w.nat,
      ...(w.nat === 'snat' && w.address !== undefined ? { snatTo: hostOf(w.address) } : {}),
      dhcp: w.dhcp,
    })),
    wireguardPorts: [...wg].sort((a, b) => a - b),
    stampPort: cfg.probes.port,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    spoof4: spoof.filter((p) => familyOf(p) === 4),
    spoof6: spoof.filter((p) => familyOf(p) === 6),
    peers4: peers.filter((p) => familyOf(p) === 4),
    peers6: peers.filter((p) => familyOf(p) === 6),
    forwards: cfg.firewall.portForwards.map((f) => {
      const family = familyOf(f.to);
      return {
        name: f.name,
        interfaces: (f.wans.length ? f.wans : cfg.wans.map((w) => w.name)).map((n) => wanIf.get(n)).filter((x): x is string => x !== undefined),
        protocol: f.protocol,
        port: portText(f.port),
        to: f.to,
        family,
        ...(f.toPort !== undefined ? { toPort: f.toPort } : {}),
        sources: f.sources.filter((s) => familyOf(s) === family),
      };
    }),
    rules: cfg.firewall.rules,
  };
}

/** Zones in the order their input and forward chains are dispatched to. */
export const dispatchOrder: readonly FirewallZone[] = ['wan', 'lan', 'pair', 'remote', 'overlay'];
