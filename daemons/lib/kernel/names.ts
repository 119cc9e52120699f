// The kernel objects Tern owns, by name and number: interface prefixes,
// policy-rule priorities, routing-table and fwmark ranges, nftables and
// iptables names, NFQUEUE numbers. A daemon finds and cleans what it left
// by these (ARCHITECTURE.md, "Processes"), and two daemons that must agree
// on one (steerd's ingress rules and paird's macvlan, tunneld's WAN rules
// and paird's peer-WAN rules) read it here. Plain constants: this module
// imports nothing, so the config checks can use it too.

/** Every WireGuard interface Tern makes starts with this (tunnels tn<site>-<site>-<slots>, remote access tnra…). */
export const ifnamePrefix = 'tn';

/** The scratch WireGuard link the kernel-support probe makes and deletes again. */
export const wireguardProbeIfname = (pid: number): string => `${ifnamePrefix}wgp${pid.toString(36)}`;

/** paird's virtual-MAC macvlan (pair.virtualMac): tpair<vrid>. */
export const virtualMacPrefix = 'tpair';
export const virtualMacIfname = (vrid: number): string => `${virtualMacPrefix}${vrid}`;

/** qosd's IFB of a WAN (ingress shaping): tqi-<wan>. */
export const ifbPrefix = 'tqi-';
/** qosd's scratch IFB for probing qdisc support: tqp-<random>. */
export const scratchIfbPrefix = 'tqp-';

/**
 * Interfaces Tern's daemons make and configure themselves: tunneld's
 * WireGuard tunnels and its probe link (tn*), paird's virtual-MAC macvlan
 * (tpair<vrid>), qosd's IFBs (tqi-<wan>) and its scratch IFB (tqp-*), and
 * the ifb0/ifb1 the kernel makes when the ifb module loads. A box interface
 * so named would be taken for one of them (adopted, reconfigured, left
 * unmanaged by networkd), so none may be.
 */
export const ownInterfaceGlobs = [`${ifnamePrefix}*`, `${virtualMacPrefix}*`, `${ifbPrefix}*`, `${scratchIfbPrefix}*`, 'ifb*'] as const;

/**
 * Policy-rule priorities Tern owns: tunneld's WAN marks, then paird's
 * peer-WAN rules (a priority of its own: tunneld removes rules at wanMark
 * it did not make), then steerd's path marks.
 */
export const rulePriority = { wanMark: 10100, peerWan: 10150, pathMark: 10200 } as const;

/** Routing tables Tern may give a WAN; policy routing through a WAN looks its default route up there. */
export const wanTableRange = { min: 1000, max: 1099 } as const;
/** Path routing tables: pathTableBase + path index (the steering daemon's range). */
export const pathTableBase = 10000;

/** WAN fwmarks (outer tunnel packets, WAN probes): wanMarkBase + WAN table. */
export const wanMarkBase = 0x10000;
/** Path fwmarks: pathMarkBase + path index. */
export const pathMarkBase = 0x100000;
/** Path marks are pathMarkBase + index: this mask and pathMarkBase pick them out. */
export const pathMarkMask = 0xfff00000;
/**
 * The mark steerd's restore chain puts on a packet to queue when the queue
 * is an iptables rule: in Tern's range, never a path mark. A verdict
 * replaces it with the path's mark; a bypassed packet has it cleared in
 * the save chain.
 */
export const queueFlagMark = 0x00200000;

/** The nftables table Tern's rules live in (family inet). */
export const nftTable = 'tern';
/** The scratch table steerd checks the kernel's nft `queue` support with (`nft -c`, never loaded). */
export const nftProbeTable = 'tern_probe';
/** Chains and sets steerd owns in `inet tern`. */
export const steerChains = { restore: 'steer_restore', save: 'steer_save' } as const;
export const steerSets = { dst4: 'steer_dst4', dst6: 'steer_dst6' } as const;
/** steerd's own chain in iptables-nft's mangle table, where nft has no `queue`. */
export const iptChain = 'TERN-STEER';

/** NFQUEUE numbers of steerd's workers: queueBase … queueBase + queueCount − 1, next to the rule priorities. */
export const queueBase = 10200;
export const queueCount = 2;

/**
 * Internet paths (a WAN as the path of the `internet` destination): their
 * marks are path marks (so steerd restores, saves and sweeps them like
 * overlay paths), internetMarkBase + the WAN's index in `wans`, far above
 * any overlay path index; their table is the WAN's own table, whose default
 * route tunneld keeps.
 */
export const internetMarkBase = pathMarkBase + 0xf0000;
export const internetMark = (wanIndex: number): number => internetMarkBase + wanIndex;

/**
 * The app class a domain set found for a queued packet, carried in its mark
 * from steerd's restore chain to the worker: (class index + 1) << 12 inside
 * domainHintMask, next to the queue flag. A verdict replaces the whole mark;
 * a bypassed packet has it cleared in the save chain.
 */
export const domainHintMask = 0x000ff000;
export const domainHintShift = 12;
/** At most this many app classes may match by domains (the hint is 8 bits, 0 = none). */
export const maxDomainClasses = 255;

/**
 * The sets of a domain app class in `inet tern`: the addresses the box's DNS
 * answered for its domains. steerd declares them (its restore chain looks
 * them up); dnsmasq, run by edged, fills them; elements expire by timeout.
 */
export const domainSetName = (appClass: string, family: 4 | 6): string => `dom${family}_${appClass.replaceAll('-', '_')}`;

/** Chains edged owns in `inet tern`: every one starts with this. */
export const edgeChainPrefix = 'edge_';
