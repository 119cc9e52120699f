// edged's bus API: the zone firewall's ruleset state, its named counters,
// and the NAT sessions per WAN.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Reply } from './schema.js';

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

export const edgedApi = defineContract({
  daemon: 'edged',
  summary: 'Zone firewall, NAT per WAN, port forwards and anti-spoofing in nftables inet tern.',
  methods: {
    'edge.status': { summary: 'the ruleset: fingerprint, loaded or adopted, last error, zones, known peers', result: EdgeStatus },
    'edge.firewall': { summary: 'every named counter of edged (drops by zone and reason, resets, anti-spoofing per WAN, port forwards, rules)', result: Reply({ counters: Type.Array(EdgeCounter) }) },
    'edge.nat': { summary: 'NAT sessions per WAN, from conntrack', result: Reply({ total: Count(), wans: Type.Array(NatWan) }) },
  },
  topics: {
    'edge.applied': { when: 'the ruleset was loaded or adopted', payload: Reply({ fingerprint: Type.String(), outcome: Type.String(), why: Type.String() }) },
  },
});
