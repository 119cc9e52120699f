// The pair section of tern.yaml turned into what the codec, the state
// machine and the tracker take, so the daemon wires no VRRP rules itself.
import { TernError } from '../lib/errors.js';
import type { PairConfig } from '../lib/config/schema.js';
import { formatAddress, parsePrefix } from '../lib/ip/index.js';
import { addressBytes, isLinkLocalV6, type Family } from './addr.js';
import type { MachineOptions } from './machine.js';
import type { ChecksumMode } from './packet.js';
import type { TrackerOptions } from './track.js';

export interface PairSettings {
  vrid: number;
  family: Family;
  /**
   * address/length put on the interface while master: the configured VIPs,
   * and for IPv6 first a link-local virtual address when none is configured.
   */
  vips: string[];
  /** The addresses adverts carry (no lengths); for IPv6 the link-local one first. */
  advertAddresses: string[];
  checksum: ChecksumMode;
  unicastPeers: string[];
  /** Carry the VIPs on the virtual MAC (a macvlan). */
  virtualMac: boolean;
  machine: Omit<MachineOptions, 'localAddress' | 'clock'>;
  tracker: Omit<TrackerOptions, 'clock' | 'onChange'>;
}

/**
 * The IPv6 link-local virtual address used when the config names none (the
 * config keeps VIPs inside the LAN prefix, so it cannot name one): fe80::/64
 * with the modified EUI-64 (RFC 4291 appendix A) of the IPv6 virtual MAC
 * 00:00:5e:00:02:<vrid>, i.e. fe80::200:5eff:fe00:2<vrid in 2 hex digits>.
 * Both boxes derive the same address from the VRID alone.
 */
export function virtualLinkLocal(vrid: number): string {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) {
    throw new TernError('TERN_E_PAIRD_ARG', `paird: virtual link-local: got vrid ${vrid}; want an integer 1-255`);
  }
  return `fe80::200:5eff:fe00:2${vrid.toString(16).padStart(2, '0')}`;
}

/** Settings from a validated `pair` section (defaults applied by the loader). */
export function pairSettings(pair: PairConfig): PairSettings {
  const vips = pair.vips.map((v) => {
    const p = parsePrefix(v, 'allow');
    if (!p.ok) throw new TernError('TERN_E_PAIRD_ARG', `paird: settings: got VIP ${JSON.stringify(v)}; want address/length (${p.reason})`);
    return { address: formatAddress({ family: p.value.family, value: p.value.address }), length: p.value.length, family: p.value.family };
  });
  const family = (vips[0]?.family ?? 4) as Family;
  if (vips.some((v) => v.family !== family)) {
    throw new TernError('TERN_E_PAIRD_ARG', `paird: settings: got VIPs ${pair.vips.join(', ')}; want one address family`);
  }
  // RFC 9568 5.2.9: an IPv6 advert lists the virtual router's link-local address first.
  if (family === 6) {
    const ll = vips.findIndex((v) => isLinkLocalV6(addressBytes(v.address) as Uint8Array));
    if (ll < 0) vips.unshift({ address: virtualLinkLocal(pair.vrid), length: 64, family: 6 });
    else if (ll > 0) vips.unshift(...vips.splice(ll, 1));
  }
  return {
    vrid: pair.vrid,
    family,
    vips: vips.map((v) => `${v.address}/${v.length}`),
    advertAddresses: vips.map((v) => v.address),
    checksum: pair.checksum,
    unicastPeers: [...pair.unicastPeers],
    virtualMac: pair.virtualMac,
    machine: {
      priority: pair.priority,
      advertIntervalMs: pair.advertIntervalMs,
      preempt: pair.preempt,
      preemptDelayMs: pair.preemptDelayMs,
      garp: { count: pair.garp.count, spacingMs: pair.garp.spacingMs },
    },
    tracker: {
      basePriority: pair.priority,
      items: pair.track.map((t) => ({ name: (t.wan ?? t.path) as string, weight: t.weight })),
      holdDownMs: pair.holdDownMs,
    },
  };
}
