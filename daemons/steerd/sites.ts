// What steerd steers: for every remote site, its prefixes, the selector
// policy its flows follow, and its overlay paths as the selector sees them
// — each path's state and metrics made from tunneld's tunnel state and
// probed's measurements.
//
// Each site has a selector of its own: a flow to the office may only take a
// path to the office, so the choice is among that site's paths alone. The
// fast path finds the site by destination prefix.
import type { PathMetricsT, SteerProbeT, TunnelStateT, WanMetricsT } from '../lib/api/index.js';
import type { TernConfig } from '../lib/config/index.js';
import { wanTables } from '../lib/config/tables.js';
import { formatPrefix, parsePrefix } from '../lib/ip/index.js';
import { internetMark, virtualMacIfname } from '../lib/kernel/names.js';
import { overlayPlan, type PathPlan } from '../lib/overlay/index.js';
import { compilePolicy, defaultFlowLimits } from './policy.js';
import type { PathInput, PathState, SelectorPolicy } from './types.js';

/** One overlay path steerd can put flows on. */
export interface SteerPath {
  /** localWan/site/remoteWan. */
  name: string;
  site: string;
  localWan: string;
  remoteWan: string;
  /** The path's fwmark, also its id in the selector. */
  mark: number;
  table: number;
  /** Share of new flows in modes weighted, affinity and spray when the policy has no weights. */
  weight: number;
}

export interface SitePlan {
  site: string;
  /** Destinations of this site (LANs and overlay address): what its selector decides. */
  prefixes: string[];
  paths: SteerPath[];
}

/** Tunnel state as tunneld publishes it (paths.list, paths.changed). */
export type TunnelState = TunnelStateT;

/** What probed measured on a path (path.metrics / paths.metrics); nulls: not measured yet. */
export type ProbeView = SteerProbeT;

/** The macvlan paird carries the VIPs on with pair.virtualMac (lib/kernel/names.ts, shared with paird). */
export const pairVirtualMacIfname = virtualMacIfname;

// Where else LAN hosts' packets arrive while PAIR runs: shared with edged's zones (lib/zones).
export { pairInterfaces } from '../lib/zones/index.js';

/** MOS of a clean path (probed's E-model tops out near it): what an unmeasured path is assumed to have. */
const unmeasuredMos = 4.4;

/** Every remote site this box builds tunnels to, with its paths. */
export function sitePlans(cfg: TernConfig): SitePlan[] {
  const plan = overlayPlan(cfg);
  const bySite = new Map<string, SitePlan>();
  for (const p of plan.paths) {
    let s = bySite.get(p.site);
    if (!s) {
      s = { site: p.site, prefixes: [...p.remotePrefixes], paths: [] };
      bySite.set(p.site, s);
    }
    s.paths.push(steerPath(cfg, p));
  }
  return [...bySite.values()];
}

function steerPath(cfg: TernConfig, p: PathPlan): SteerPath {
  const site = cfg.overlay.sites.find((s) => s.id === p.site);
  const wan = site?.wans.find((w) => w.name === p.remoteWan);
  return {
    name: p.name, site: p.site, localWan: p.localWan, remoteWan: p.remoteWan, mark: p.mark, table: p.table,
    weight: wan?.weight ?? 1,
  };
}

/**
 * The selector policy of every site: the config's app classes and
 * policies. `preferWans` and `weights` name local WANs, as the config
 * documents; a path's WAN in the selector is its local WAN.
 */
export function steerPolicy(cfg: TernConfig, flows = defaultFlowLimits): SelectorPolicy {
  return compilePolicy(cfg, flows);
}

/**
 * A path as the selector sees it. Tunnel down (or not yet handshaken):
 * down, whatever the probes say. Otherwise probed's state; a path probed has
 * no verdict on yet counts as degraded with clean metrics, so measured
 * healthy paths are preferred while unmeasured ones still carry traffic
 * (also when probed is not running at all).
 */
export function pathInput(p: SteerPath, cost: number, metered: boolean, tunnel: TunnelState | undefined, probe: ProbeView | undefined): PathInput {
  let state: PathState;
  if (tunnel !== 'up') state = 'down';
  else if (!probe || probe.state === 'unknown') state = 'degraded';
  else state = probe.state;
  return {
    id: p.mark,
    wan: p.localWan,
    weight: p.weight,
    cost,
    metered,
    state,
    lossPct: probe?.lossPct ?? 0,
    latencyMs: probe?.rttMs ?? 0,
    jitterMs: probe?.jitterMs ?? 0,
    mos: probe?.mos ?? (state === 'down' ? 1 : unmeasuredMos),
  };
}

/** The selector's paths of one site, from the tunnel states and probe views by path name. */
export function siteInputs(cfg: TernConfig, site: SitePlan, tunnels: ReadonlyMap<string, TunnelState>, probes: ReadonlyMap<string, ProbeView>): PathInput[] {
  return site.paths.map((p) => {
    const wan = cfg.wans.find((w) => w.name === p.localWan);
    return pathInput(p, wan?.cost ?? 10, wan?.metered ?? false, tunnels.get(p.name), probes.get(p.name));
  });
}

/** What steerd keeps of one path.metrics payload. */
export function probeView(m: PathMetricsT): ProbeView {
  // One shape, probed's path.metrics as daemons/lib/api/probed.ts declares
  // it (checked on arrival): its fields are taken as they are named there.
  return { state: m.state, lossPct: m.lossPct, rttMs: m.rttMs, jitterMs: m.jitterMs, mos: m.mos };
}

/** The destination every WAN is a path of: the selector steering LAN flows to the internet. */
export const internetSite = 'internet';
/** What the internet selector decides: every destination no site claimed (its route is registered last). */
export const internetPrefixes = ['0.0.0.0/0', '::/0'] as const;

/** An internet path's name: the WAN, then `internet` (a path id has three parts; this one has two, so it never names an overlay path). */
export const internetPathName = (wan: string): string => `${wan}/${internetSite}`;

/**
 * The internet as one more destination, when `internet.enabled` and the box
 * has WANs: one path per WAN, marked internetMark(its index in `wans`) so
 * restore, save and sweeps treat it like any path, routed by the WAN's own
 * table (tunneld keeps the WAN's default route there).
 */
export function internetPlan(cfg: Pick<TernConfig, 'wans' | 'internet'>): SitePlan | undefined {
  if (!cfg.internet.enabled || cfg.wans.length === 0) return undefined;
  const tables = wanTables(cfg);
  return {
    site: internetSite,
    prefixes: [...internetPrefixes],
    paths: cfg.wans.map((w, i) => ({
      name: internetPathName(w.name), site: internetSite, localWan: w.name, remoteWan: internetSite,
      mark: internetMark(i), table: tables.get(w.name)!, weight: 1,
    })),
  };
}

/**
 * This site's own destinations, never steered to the internet: its LAN
 * prefixes and LAN subnet, the overlay network (remote users' addresses
 * are in it), remote users' host addresses, IPv6 link-local. Network form.
 */
export function ownPrefixes(cfg: Pick<TernConfig, 'lan' | 'overlay' | 'remoteUsers'>): string[] {
  const texts = [...cfg.lan.prefixes, cfg.lan.address, cfg.overlay.address, ...(cfg.remoteUsers ?? []).map((u) => u.address), 'fe80::/10'];
  const out = new Set<string>();
  for (const text of texts) {
    const p = parsePrefix(text, 'allow');
    if (p.ok) out.add(formatPrefix(p.value));
  }
  return [...out];
}

/** What probed judged on a WAN (wan.metrics / wans.metrics, wan.state), as the internet path of the WAN sees it. */
export function wanProbeView(m: WanMetricsT): ProbeView {
  return { state: m.state, lossPct: m.lossPct, rttMs: m.rttMs, jitterMs: m.jitterMs, mos: m.mos };
}

/**
 * The internet paths as the selector sees them: each WAN's state is
 * probed's verdict on the WAN (not yet judged: degraded with clean metrics,
 * the rule for unmeasured paths); a WAN in its failback hold counts as down
 * for new flows (`held`).
 */
export function internetInputs(cfg: TernConfig, plan: SitePlan, wans: ReadonlyMap<string, ProbeView>, held: ReadonlySet<string>): PathInput[] {
  return plan.paths.map((p) => {
    const wan = cfg.wans.find((w) => w.name === p.localWan);
    return pathInput(p, wan?.cost ?? 10, wan?.metered ?? false, held.has(p.localWan) ? 'down' : 'up', wans.get(p.localWan));
  });
}
