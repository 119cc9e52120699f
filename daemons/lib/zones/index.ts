// Package zones says which interfaces of a box belong to which firewall
// zone (wan, lan, overlay, remote, pair), from the config alone, so the
// daemons that match packets by interface (steerd's ingress rules, edged's
// firewall) agree on them.
import type { TernConfig } from '../config/index.js';
import { ifnamePrefix, virtualMacIfname } from '../kernel/names.js';
import { overlayPlan, remoteAccessIfname } from '../overlay/index.js';

/**
 * Where else than lan.interface LAN hosts' packets arrive while PAIR runs:
 * pair.interface when it is another interface, and with virtualMac the
 * macvlan, because hosts send to the virtual MAC and the kernel hands such
 * frames to the macvlan, not to its parent. Nothing without PAIR, or with
 * pair.enabled false (paird then runs standalone and makes no macvlan).
 */
export function pairInterfaces(cfg: Pick<TernConfig, 'lan' | 'pair'>): string[] {
  const pair = cfg.pair;
  if (!pair || !pair.enabled) return [];
  const out: string[] = [];
  if (pair.interface !== undefined && pair.interface !== cfg.lan.interface) out.push(pair.interface);
  if (pair.virtualMac) out.push(virtualMacIfname(pair.vrid));
  return out;
}

/** The interfaces of every zone. Names are matched at packet time (iifname), so a link made later is matched too. */
export interface ZoneInterfaces {
  /** Each WAN's interface, in `wans` order. */
  wan: string[];
  /** lan.interface and, with PAIR, the virtual-MAC macvlan. */
  lan: string[];
  /** pair.interface when PAIR runs on an interface of its own. */
  pair: string[];
  /** Site tunnels: every interface starting with this prefix that is not the remote-access one. */
  overlayPrefix: string;
  /** The remote-access interface (tnra<site>-<slot>). */
  remote: string;
}

export function zoneInterfaces(cfg: TernConfig): ZoneInterfaces {
  const pairOwn = cfg.pair?.enabled && cfg.pair.interface !== undefined && cfg.pair.interface !== cfg.lan.interface ? [cfg.pair.interface] : [];
  const lan = [cfg.lan.interface, ...pairInterfaces(cfg).filter((i) => !pairOwn.includes(i))];
  return {
    wan: cfg.wans.map((w) => w.interface),
    lan: [...new Set(lan)],
    pair: pairOwn,
    overlayPrefix: ifnamePrefix,
    remote: remoteAccessIfname(overlayPlan(cfg)),
  };
}
