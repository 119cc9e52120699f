// edged's part of the nftables table `inet tern` as one nft script: zone
// firewall (input, forward), anti-spoofing on the WANs (raw prerouting),
// port forwards (dstnat) and NAT per WAN (srcnat), with named counters for
// every drop class. The script is one transaction: `add` creates what is
// missing, `flush` empties edged's own chains and sets, then they are
// refilled — so a reload or a restart never opens a gap, and a failed load
// leaves the previous rules in place. Named counters are added, never
// flushed: they keep counting across reloads and restarts.
import { createHash } from 'node:crypto';
import type { FirewallRule, FirewallZone } from '../lib/config/index.js';
import { TernError } from '../lib/errors.js';
import { edgeChainPrefix, nftTable, virtualMacPrefix } from '../lib/kernel/names.js';
import { dispatchOrder, type EdgePlan } from './plan.js';

/** Hook priorities: anti-spoofing with raw (before conntrack), NAT at the standard dstnat/srcnat, filters at 0. */
export const priorities = { spoof: -300, dnat: -100, filter: 0, snat: 100 } as const;

/** edged's chains in `inet tern`. */
export const edgeChains = {
  spoof: `${edgeChainPrefix}spoof`,
  input: `${edgeChainPrefix}input`,
  forward: `${edgeChainPrefix}forward`,
  dnat: `${edgeChainPrefix}dnat`,
  snat: `${edgeChainPrefix}snat`,
  inZone: (z: FirewallZone): string => `${edgeChainPrefix}in_${z}`,
  fwdZone: (z: FirewallZone): string => `${edgeChainPrefix}fwd_${z}`,
} as const;

/** edged's sets: sources never valid on a WAN; known peers (STAMP from the WAN). */
export const edgeSets = {
  spoof4: `${edgeChainPrefix}spoof4`,
  spoof6: `${edgeChainPrefix}spoof6`,
  peers4: `${edgeChainPrefix}peers4`,
  peers6: `${edgeChainPrefix}peers6`,
} as const;

/** Named counters: every drop class, every port forward and zone rule, anti-spoofing per WAN. */
export const counterNames = {
  invalid: `${edgeChainPrefix}drop_invalid`,
  noSyn: `${edgeChainPrefix}reset_nosyn`,
  inputDrop: (z: FirewallZone | 'unzoned'): string => `${edgeChainPrefix}drop_in_${z}`,
  forwardDrop: (z: FirewallZone | 'unzoned'): string => `${edgeChainPrefix}drop_fwd_${z}`,
  icmpRate: (z: FirewallZone): string => `${edgeChainPrefix}drop_icmp_${z}`,
  spoof: (wan: string): string => `${edgeChainPrefix}spoof_${wan.replaceAll('-', '_')}`,
  forward: (name: string): string => `${edgeChainPrefix}forward_${name.replaceAll('-', '_')}`,
  rule: (name: string): string => `${edgeChainPrefix}rule_${name.replaceAll('-', '_')}`,
} as const;

const zones: readonly FirewallZone[] = dispatchOrder;

/** Interface names go into the script quoted: only characters that cannot end the string or start a wildcard. */
export function quoteIf(name: string): string {
  if (!/^[A-Za-z0-9_.@+-]{1,15}$/.test(name)) {
    throw new TernError('TERN_E_EDGE_RULES', `edged: nft: interface ${JSON.stringify(name)}: expected an interface name of 1-15 letters, digits and _.@+-`);
  }
  return `"${name}"`;
}

const set = (items: readonly string[]): string => (items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`);

/**
 * How a packet's interface is matched for a zone, on the in or the out
 * side; undefined when the zone has no interface on this box. Overlay is
 * every tunnel (tn*) but the remote-access one; LAN includes every tpair*.
 */
export function zoneMatch(plan: Pick<EdgePlan, 'zones'>, zone: FirewallZone, side: 'iif' | 'oif'): string | undefined {
  const key = side === 'iif' ? 'iifname' : 'oifname';
  const z = plan.zones;
  switch (zone) {
    case 'wan': return z.wan.length ? `${key} ${set(z.wan.map(quoteIf))}` : undefined;
    // Every virtual-MAC macvlan (paird's tpair<vrid>) is LAN whatever the
    // config says, so the gateway's traffic is never dropped in the moment
    // paird has made its macvlan and edged has not reloaded yet.
    case 'lan': return `${key} { ${[...z.lan.filter((i) => !i.startsWith(virtualMacPrefix)).map(quoteIf), `"${virtualMacPrefix}*"`].join(', ')} }`;
    case 'pair': return z.pair.length ? `${key} ${set(z.pair.map(quoteIf))}` : undefined;
    case 'remote': return `${key} ${quoteIf(z.remote)}`;
    case 'overlay': return `${key} "${z.overlayPrefix}*" ${key} != ${quoteIf(z.remote)}`;
  }
}

/** The fingerprint of a plan: carried as the comment of the input chain's first rule, so a restart can tell it is in place. */
export function fingerprint(plan: EdgePlan): string {
  const h = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
  return `tern-edged ${h.slice(0, 16)}`;
}

const familyOf = (text: string): 4 | 6 => (text.includes(':') ? 6 : 4);
const ipOf = (family: 4 | 6): string => (family === 4 ? 'ip' : 'ip6');

/** One zone rule as nft rules (one per address family it can match); empty when it can match none. */
export function renderZoneRule(plan: EdgePlan, r: FirewallRule): string[] {
  const from = zoneMatch(plan, r.from, 'iif');
  const to = r.to === 'box' ? '' : zoneMatch(plan, r.to, 'oif');
  if (from === undefined || to === undefined) return [];
  const src = { 4: r.sources.filter((s) => familyOf(s) === 4), 6: r.sources.filter((s) => familyOf(s) === 6) };
  const dst = { 4: r.destinations.filter((s) => familyOf(s) === 4), 6: r.destinations.filter((s) => familyOf(s) === 6) };
  const families = ([4, 6] as const).filter((f) => (r.sources.length === 0 || src[f].length > 0) && (r.destinations.length === 0 || dst[f].length > 0));
  const protocols = r.protocols ?? (r.ports ? ['tcp', 'udp'] : ['any']);
  const out: string[] = [];
  for (const f of families) {
    // With ports, only protocols that carry them; 'any' with ports means tcp and udp.
    const named = protocols.flatMap((p) => {
      if (p === 'any') return r.ports ? ['tcp', 'udp'] : [];
      if (p === 'icmp') return r.ports ? [] : [f === 4 ? 'icmp' : 'ipv6-icmp'];
      if (typeof p === 'number') return r.ports && p !== 6 && p !== 17 ? [] : [String(p)];
      return [p];
    });
    const anyProto = protocols.includes('any') && !r.ports;
    if (!anyProto && named.length === 0) continue;
    const parts = [from];
    if (to) parts.push(to);
    parts.push(`meta nfproto ${f === 4 ? 'ipv4' : 'ipv6'}`);
    if (src[f].length) parts.push(`${ipOf(f)} saddr ${set(src[f])}`);
    if (dst[f].length) parts.push(`${ipOf(f)} daddr ${set(dst[f])}`);
    if (!anyProto) parts.push(`meta l4proto ${set([...new Set(named)])}`);
    if (r.ports) parts.push(`th dport ${set(r.ports.map(String))}`);
    parts.push(`counter name "${counterNames.rule(r.name)}"`);
    parts.push(r.action);
    out.push(parts.join(' '));
  }
  return out;
}

const icmp4Errors = 'destination-unreachable, time-exceeded, parameter-problem';
const icmp6Errors = 'destination-unreachable, packet-too-big, time-exceeded, parameter-problem';
const ndTypes = 'nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-router-solicit, nd-redirect, ind-neighbor-solicit, ind-neighbor-advert';
const mldTypes = 'mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report';

/**
 * ICMP to the box as RFC 4890 (section 4.4) and RFC 792 practice expect:
 * neighbour discovery and router adverts only on the link (hop limit 255),
 * MLD from link-local sources, errors and echo requests — the last two
 * together at most icmpRatePerSec per second from the zone; the rest of
 * ICMP falls to the zone's drop.
 */
function icmpToBox(plan: EdgePlan, zone: FirewallZone): string[] {
  return [
    `icmpv6 type { ${ndTypes} } ip6 hoplimit 255 accept`,
    `icmpv6 type { ${mldTypes} } ip6 saddr fe80::/10 accept`,
    `meta l4proto { icmp, ipv6-icmp } limit rate over ${plan.icmpRatePerSec}/second burst ${plan.icmpRatePerSec} packets counter name "${counterNames.icmpRate(zone)}" drop`,
    `icmp type { echo-request, ${icmp4Errors} } accept`,
    `icmpv6 type { echo-request, ${icmp6Errors} } accept`,
  ];
}

/** What each zone may reach on the box itself, after its configured rules. */
function inputZone(plan: EdgePlan, zone: FirewallZone): string[] {
  switch (zone) {
    case 'wan': {
      const out: string[] = [];
      if (plan.wireguardPorts.length) out.push(`udp dport ${set(plan.wireguardPorts.map(String))} accept`);
      out.push(`udp dport ${plan.stampPort} ip saddr @${edgeSets.peers4} accept`);
      out.push(`udp dport ${plan.stampPort} ip6 saddr @${edgeSets.peers6} accept`);
      const dhcp = plan.wans.filter((w) => w.dhcp).map((w) => quoteIf(w.interface));
      if (dhcp.length) out.push(`iifname ${set(dhcp)} udp sport 67 udp dport 68 accept`);
      // DHCPv6 replies come from the router's link-local address (prefix delegation, addresses).
      out.push('ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept');
      return [...out, ...icmpToBox(plan, zone)];
    }
    // The LAN side is trusted with the box (OpenWrt's lan zone does the
    // same): DHCP, DNS, SSH, STAMP, VRRP and pair sync, and what a later
    // service needs, without a firewall change for each.
    case 'lan':
    case 'pair':
      return ['accept'];
    case 'overlay': {
      const out = [`udp dport ${plan.stampPort} accept`, 'tcp dport 22 accept'];
      if (plan.metricsPort !== undefined) out.push(`tcp dport ${plan.metricsPort} accept`);
      return [...out, ...icmpToBox(plan, zone)];
    }
    case 'remote':
      return ['meta l4proto { tcp, udp } th dport 53 accept', ...icmpToBox(plan, zone)];
  }
}

/** Where each zone may open connections through the box, after its configured rules. */
function forwardZone(plan: EdgePlan, zone: FirewallZone): string[] {
  const to = (z: FirewallZone): string | undefined => zoneMatch(plan, z, 'oif');
  const tunnels = `oifname "${plan.zones.overlayPrefix}*"`;
  const out: string[] = [];
  switch (zone) {
    case 'wan':
      break;
    case 'lan':
    case 'pair':
      if (plan.internet && to('wan')) out.push(`${to('wan')} accept`);
      for (const z of ['lan', 'pair'] as const) if (to(z)) out.push(`${to(z)} accept`);
      out.push(`${tunnels} accept`);
      break;
    case 'overlay':
    case 'remote':
      for (const z of ['lan', 'pair'] as const) if (to(z)) out.push(`${to(z)} accept`);
      out.push(`${tunnels} accept`);
      break;
  }
  return out;
}

function counters(plan: EdgePlan): string[] {
  return [
    counterNames.invalid, counterNames.noSyn,
    ...zones.map((z) => counterNames.inputDrop(z)), counterNames.inputDrop('unzoned'),
    ...zones.map((z) => counterNames.forwardDrop(z)), counterNames.forwardDrop('unzoned'),
    ...(['wan', 'overlay', 'remote'] as const).map((z) => counterNames.icmpRate(z)),
    ...plan.wans.map((w) => counterNames.spoof(w.name)),
    ...plan.forwards.map((f) => counterNames.forward(f.name)),
    ...plan.rules.map((r) => counterNames.rule(r.name)),
  ];
}

function renderForward(f: EdgePlan['forwards'][number]): string {
  const ip = ipOf(f.family);
  const to = f.family === 4 ? f.to : `[${f.to}]`;
  const dest = f.toPort !== undefined ? `${to}:${f.toPort}` : f.port.includes('-') ? to : `${to}:${f.port}`;
  return [
    `iifname ${set(f.interfaces.map(quoteIf))}`,
    `meta nfproto ${f.family === 4 ? 'ipv4' : 'ipv6'}`,
    ...(f.sources.length ? [`${ip} saddr ${set(f.sources)}`] : []),
    `${f.protocol} dport ${f.port}`,
    `counter name "${counterNames.forward(f.name)}"`,
    `dnat ${ip} to ${dest}`,
  ].join(' ');
}

/** The whole of edged's part of `inet tern`, peers included, as one nft transaction. */
export function renderRuleset(plan: EdgePlan, peers: { v4: readonly string[]; v6: readonly string[] } = { v4: plan.peers4, v6: plan.peers6 }): string {
  const t = `inet ${nftTable}`;
  const zoneChains = zones.flatMap((z) => [edgeChains.inZone(z), edgeChains.fwdZone(z)]);
  const policy = plan.firewall ? 'drop' : 'accept';
  const lines = [
    `add table ${t}`,
    `add set ${t} ${edgeSets.spoof4} { type ipv4_addr; flags interval; auto-merge; }`,
    `add set ${t} ${edgeSets.spoof6} { type ipv6_addr; flags interval; auto-merge; }`,
    `add set ${t} ${edgeSets.peers4} { type ipv4_addr; }`,
    `add set ${t} ${edgeSets.peers6} { type ipv6_addr; }`,
    ...counters(plan).map((c) => `add counter ${t} ${c}`),
    `add chain ${t} ${edgeChains.spoof} { type filter hook prerouting priority ${priorities.spoof}; policy accept; }`,
    `add chain ${t} ${edgeChains.dnat} { type nat hook prerouting priority ${priorities.dnat}; policy accept; }`,
    `add chain ${t} ${edgeChains.snat} { type nat hook postrouting priority ${priorities.snat}; policy accept; }`,
    // The policy is set on every load, so turning the firewall off or on takes effect without a gap.
    `add chain ${t} ${edgeChains.input} { type filter hook input priority ${priorities.filter}; policy ${policy}; }`,
    `add chain ${t} ${edgeChains.forward} { type filter hook forward priority ${priorities.filter}; policy ${policy}; }`,
    `chain ${t} ${edgeChains.input} { policy ${policy}; }`,
    `chain ${t} ${edgeChains.forward} { policy ${policy}; }`,
    ...zoneChains.map((c) => `add chain ${t} ${c}`),
    ...[edgeSets.spoof4, edgeSets.spoof6, edgeSets.peers4, edgeSets.peers6].map((s) => `flush set ${t} ${s}`),
    ...[edgeChains.spoof, edgeChains.dnat, edgeChains.snat, edgeChains.input, edgeChains.forward, ...zoneChains].map((c) => `flush chain ${t} ${c}`),
  ];
  const elements = (s: string, items: readonly string[]): void => {
    if (items.length) lines.push(`add element ${t} ${s} { ${items.join(', ')} }`);
  };
  elements(edgeSets.spoof4, plan.spoof4);
  elements(edgeSets.spoof6, plan.spoof6);
  elements(edgeSets.peers4, peers.v4);
  elements(edgeSets.peers6, peers.v6);
  const rule = (chain: string, body: string): void => { lines.push(`add rule ${t} ${chain} ${body}`); };

  // Anti-spoofing: before conntrack, so a spoofed packet never makes an entry.
  for (const w of plan.wans) {
    rule(edgeChains.spoof, `iifname ${quoteIf(w.interface)} ip saddr @${edgeSets.spoof4} counter name "${counterNames.spoof(w.name)}" drop`);
    rule(edgeChains.spoof, `iifname ${quoteIf(w.interface)} ip6 saddr @${edgeSets.spoof6} counter name "${counterNames.spoof(w.name)}" drop`);
  }

  for (const f of plan.forwards) if (f.interfaces.length) rule(edgeChains.dnat, renderForward(f));

  // Source NAT of forwarded flows only (iif 0: the box's own packets — tunnels, probes — keep their source).
  if (plan.internet) {
    for (const w of plan.wans) {
      if (w.nat === 'masquerade') rule(edgeChains.snat, `oifname ${quoteIf(w.interface)} meta iif != 0 meta nfproto ipv4 masquerade`);
      else if (w.nat === 'snat' && w.snatTo) rule(edgeChains.snat, `oifname ${quoteIf(w.interface)} meta iif != 0 meta nfproto ipv4 snat ip to ${w.snatTo}`);
    }
  }

  const fp = fingerprint(plan);
  rule(edgeChains.input, `iifname "lo" accept comment "${fp}"`);
  if (plan.firewall) {
    const wanIn = zoneMatch(plan, 'wan', 'iif');
    const wanOut = zoneMatch(plan, 'wan', 'oif');
    rule(edgeChains.input, 'ct state established,related accept');
    rule(edgeChains.input, `ct state invalid counter name "${counterNames.invalid}" drop`);
    for (const z of zones) {
      const m = zoneMatch(plan, z, 'iif');
      if (m) rule(edgeChains.input, `${m} jump ${edgeChains.inZone(z)}`);
    }
    rule(edgeChains.input, `counter name "${counterNames.inputDrop('unzoned')}" drop`);

    rule(edgeChains.forward, 'ct state established,related accept');
    // Invalid only where a WAN is involved: between the LAN, the PAIR peer
    // and the tunnels a box may see one direction of a flow (the peer's
    // WAN, a path back through the other box), which conntrack calls invalid.
    if (wanIn) rule(edgeChains.forward, `${wanIn} ct state invalid counter name "${counterNames.invalid}" drop`);
    if (wanOut) {
      rule(edgeChains.forward, `${wanOut} ct state invalid counter name "${counterNames.invalid}" drop`);
      // A new TCP flow to the internet that does not start with a SYN is a
      // flow whose NAT entry was cleared (WAN failover): a reset makes the
      // client reconnect at once instead of timing out.
      rule(edgeChains.forward, `${wanOut} ct state new meta l4proto tcp tcp flags & (fin|syn|rst|ack) != syn counter name "${counterNames.noSyn}" reject with tcp reset`);
    }
    rule(edgeChains.forward, 'ct status dnat accept');
    for (const z of zones) {
      const m = zoneMatch(plan, z, 'iif');
      if (m) rule(edgeChains.forward, `${m} jump ${edgeChains.fwdZone(z)}`);
    }
    rule(edgeChains.forward, `counter name "${counterNames.forwardDrop('unzoned')}" drop`);

    for (const z of zones) {
      for (const r of plan.rules.filter((x) => x.from === z)) {
        for (const body of renderZoneRule(plan, r)) rule(r.to === 'box' ? edgeChains.inZone(z) : edgeChains.fwdZone(z), body);
      }
      for (const body of inputZone(plan, z)) rule(edgeChains.inZone(z), body);
      if (z !== 'lan' && z !== 'pair') rule(edgeChains.inZone(z), `counter name "${counterNames.inputDrop(z)}" drop`);
      for (const body of forwardZone(plan, z)) rule(edgeChains.fwdZone(z), body);
      rule(edgeChains.fwdZone(z), `counter name "${counterNames.forwardDrop(z)}" drop`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Every object of edged's in the table, by kind (what --uninstall deletes). */
export function isEdgeObject(name: string): boolean {
  return name.startsWith(edgeChainPrefix);
}
