// edged's bus API: the zone firewall's ruleset state, its named counters,
// the NAT sessions per WAN, and the LAN services (dnsmasq, leases, the
// addresses learned for domain app classes).
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Opt, Reply } from './schema.js';

export const EdgeStatus = Reply({
  firewall: Type.Boolean({ description: 'firewall.enabled: false means the filter chains accept everything' }),
  internet: Type.Boolean({ description: 'internet.enabled: LAN → WAN forwarding and NAT' }),
  fingerprint: Type.String({ description: 'the hash of the ruleset in place, carried as a rule comment' }),
  outcome: Type.Union([Type.Literal('loaded'), Type.Literal('adopted'), Type.Literal('none')], { description: 'what the last apply did: loaded (created or replaced in one transaction), adopted (found in place), none (not applied yet)' }),
  appliedAt: Type.Union([Type.Number(), Type.Null()], { description: 'wall-clock ms of the last apply' }),
  loads: Count('transactions loaded since start'),
  lastError: Type.Union([Type.String(), Type.Null()]),
  zones: Reply({
    wan: Type.Array(Type.String()), lan: Type.Array(Type.String()), pair: Type.Array(Type.String()),
    overlay: Type.String({ description: 'interface name pattern' }), remote: Type.String(),
  }),
  peers: Reply({ v4: Type.Array(Type.String()), v6: Type.Array(Type.String()) }, { description: 'remote sites\' WAN addresses STAMP is accepted from' }),
}, { title: 'EdgeStatus' });

export const EdgeCounter = Reply({
  name: Type.String(),
  packets: Count(),
  bytes: Count(),
  kind: Type.String({ description: 'drop, reset, spoof, forward, rule, icmp' }),
  zone: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  wan: Type.Union([Type.String(), Type.Null()]),
}, { title: 'EdgeCounter' });

export const NatWan = Reply({
  wan: Type.String(),
  interface: Type.String(),
  nat: Type.String({ description: 'masquerade, snat or off' }),
  addresses: Type.Array(Type.String(), { description: 'the WAN\'s addresses sessions are NATed to' }),
  sessions: Count('conntrack entries whose reply comes back to one of them with a rewritten source'),
  tcp: Count(), udp: Count(), other: Count(),
}, { title: 'NatWan' });

export const EdgeLan = Reply({
  enabled: Type.Boolean({ description: 'edged runs the LAN services (false: started without them)' }),
  dhcp: Type.Boolean({ description: 'lan.dhcp is configured' }),
  dns: Type.Boolean({ description: 'lan.dns is enabled' }),
  intercept: Type.Boolean({ description: 'lan.dns.interceptPort53: LAN hosts\' DNS to other resolvers is answered by the box' }),
  running: Type.Boolean({ description: 'dnsmasq is running' }),
  pid: Opt(Type.Integer({ minimum: 1 })),
  adopted: Type.Boolean({ description: 'this edged found dnsmasq running and kept it' }),
  restarts: Count('restarts after dnsmasq exited on its own'),
  configHash: Opt(Type.String({ description: 'hash of the dnsmasq config and argv in force' })),
  lastExit: Opt(Reply({ code: Type.Union([Type.Integer(), Type.Null()]), signal: Type.Union([Type.String(), Type.Null()]), at: Type.Number({ description: 'wall-clock ms' }) })),
  problems: Type.Array(Type.String()),
}, { title: 'EdgeLan' });

export const Lease = Reply({
  mac: Type.String(),
  address: Type.String(),
  hostname: Opt(Type.String({ description: 'the name the client asked for (one DNS label)' })),
  clientId: Opt(Type.String({ description: 'DHCP option 61, hex bytes joined by \':\'' })),
  expiresAt: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'seconds since the epoch; null: never' }),
}, { title: 'Lease' });

export const DomainSet = Reply({
  appClass: Type.String(),
  family: Type.Union([Type.Literal(4), Type.Literal(6)]),
  set: Type.String({ description: 'the nft set in inet tern dnsmasq fills' }),
  elements: Type.Array(Reply({ address: Type.String(), expiresSec: Opt(Count('seconds left before the address leaves the set')) })),
  problem: Opt(Type.String({ description: 'why the set could not be read' })),
}, { title: 'DomainSet' });

export const edgedApi = defineContract({
  daemon: 'edged',
  summary: 'Zone firewall, NAT per WAN, port forwards and anti-spoofing in nftables inet tern; DHCP and DNS for the LAN (dnsmasq).',
  methods: {
    'edge.status': { summary: 'the ruleset: fingerprint, loaded or adopted, last error, zones, known peers', result: EdgeStatus },
    'edge.firewall': { summary: 'every named counter of edged (drops by zone and reason, resets, anti-spoofing per WAN, port forwards, rules)', result: Reply({ counters: Type.Array(EdgeCounter) }) },
    'edge.nat': { summary: 'NAT sessions per WAN, from conntrack', result: Reply({ total: Count(), wans: Type.Array(NatWan) }) },
    'edge.lan': { summary: 'the LAN services: DHCP and DNS configured, dnsmasq running or adopted, restarts, problems', result: EdgeLan },
    'edge.leases': { summary: 'the DHCP leases in dnsmasq\'s lease file', result: Reply({ leases: Type.Array(Lease) }) },
    'edge.domains': { summary: 'the addresses learned from DNS answers per domain app class, with the time each has left', result: Reply({ sets: Type.Array(DomainSet) }) },
  },
  topics: {
    'edge.applied': { when: 'the ruleset was loaded or adopted', payload: Reply({ fingerprint: Type.String(), outcome: Type.String(), why: Type.String() }) },
  },
});
