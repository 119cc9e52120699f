// What probed probes and how, from the config and the overlay plan: each
// path's settings (its class's rate), each WAN's targets, source and
// marking (or why it cannot be probed yet), the DHCP WANs whose gateway is
// learned, and the peers the reflector answers at full rate. No I/O.
import type { TernConfig } from '../lib/config/index.js';
import type { DhcpWan } from '../lib/kernel/index.js';
import type { OverlayPlan } from '../lib/overlay/index.js';
import type { PathProbeSettings } from './monitor.js';
import { canonicalAddress } from './transport.js';
import type { TunneldPath } from './tunnels.js';
import type { WanProbeSettings } from './wan.js';

/** What a path id pattern of probes.pathClasses matches: each of the three parts, or * for any. */
export function pathMatches(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.split('/');
  return a.length === 3 && b.length === 3 && a.every((x, i) => x === '*' || x === b[i]);
}

/** The settings of one path: its class's rate (the first class listing it), else probes.pathRatePerSec. */
export function pathSettings(cfg: TernConfig, path: string): PathProbeSettings & { pathClass: string | null } {
  const p = cfg.probes;
  const cls = p.pathClasses.find((c) => c.paths.some((pat) => pathMatches(pat, path)));
  return {
    pathRatePerSec: cls?.ratePerSec ?? p.pathRatePerSec,
    windowSec: p.windowSec,
    downAfter: p.downAfter,
    upAfter: p.upAfter,
    degraded: { ...p.degraded },
    pathClass: cls?.name ?? null,
  };
}

/**
 * DSCP of WAN probes unless probes.wans[].dscp says otherwise: EF, as an
 * appliance marks its own probes so they measure the link and not its own
 * shaper. Unmarked, they would wait in qosd's best-effort queues behind the
 * very load whose latency autorate is reading.
 */
export const defaultWanProbeDscp = 46;

/** Where a WAN's probes leave from, and how they are marked. */
export interface WanSource {
  /** The WAN's address without prefix length; undefined for a DHCP WAN. */
  address: string | undefined;
  mark: number;
  device: string;
  /** DSCP of the echo requests (and so of the replies, which Linux and most routers answer with the request's TOS). */
  dscp: number;
}

/** A WAN's configured probe targets: probes.wans[].targets, else probes.wanTargets, else its gateway; [] when none. */
function configuredTargets(cfg: TernConfig, w: TernConfig['wans'][number]): string[] {
  const p = cfg.probes;
  return p.wans.find((o) => o.wan === w.name)?.targets ?? (p.wanTargets.length ? p.wanTargets : w.gateway ? [w.gateway] : []);
}

/** The WANs whose probe target is the gateway DHCP gives them: dhcp: true, and no target configured. */
export function dhcpWans(cfg: TernConfig, plan: OverlayPlan): DhcpWan[] {
  return cfg.wans.flatMap((w) => {
    const wp = plan.wans.find((x) => x.name === w.name);
    return w.dhcp && wp && !configuredTargets(cfg, w).length ? [{ wan: w.name, device: w.interface, table: wp.table }] : [];
  });
}

/** What a DHCP WAN's status says until its gateway is known. */
export function waitingText(device: string): string {
  return `waiting for a DHCP gateway on ${device} (no default route out of it yet)`;
}

/**
 * The probe settings of every WAN, or why a WAN cannot be probed, or, for a
 * DHCP WAN without targets of its own whose gateway is not known yet (not
 * in gateways), that it waits for one.
 */
export function wanPlans(cfg: TernConfig, plan: OverlayPlan, gateways: (wan: string) => readonly string[] | undefined = () => undefined):
  Array<{ settings: WanProbeSettings; source: WanSource } | { wan: string; problem: string } | { wan: string; waiting: string }> {
  const p = cfg.probes;
  return cfg.wans.map((w) => {
    const override = p.wans.find((o) => o.wan === w.name);
    let targets = configuredTargets(cfg, w);
    if (!targets.length && w.dhcp) {
      targets = [...(gateways(w.name) ?? [])];
      if (!targets.length) return { wan: w.name, waiting: waitingText(w.interface) };
    }
    if (!targets.length) return { wan: w.name, problem: `no probe target: set probes.wanTargets or probes.wans[].targets (a DHCP WAN has no configured gateway)` };
    const wp = plan.wans.find((x) => x.name === w.name);
    return {
      settings: {
        wan: w.name,
        targets: [...new Set(targets.map(canonicalAddress))],
        ratePerSec: override?.ratePerSec ?? p.wanRatePerSec,
        windowSec: p.windowSec,
        downAfter: p.downAfter,
        upAfter: p.upAfter,
        degraded: { ...p.degraded },
      },
      source: { address: w.address?.split('/')[0], mark: wp?.mark ?? 0, device: w.interface, dscp: override?.dscp ?? defaultWanProbeDscp },
    };
  });
}

/** Addresses the reflector serves at full rate: the far ends of the planned paths, with their interface. */
export function knownPeers(plan: OverlayPlan, tunneld: TunneldPath[] = []): Set<string> {
  const out = new Set<string>();
  for (const p of plan.paths) out.add(`${canonicalAddress(p.remoteLinkAddress)}%${p.ifname}`);
  for (const t of tunneld) out.add(canonicalAddress(t.probeAddress));
  return out;
}
