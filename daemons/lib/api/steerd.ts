// steerd's bus API: the path table as the selectors see it, the steered
// flows, the selectors' counters, a reload of the steering sections, and
// the moves it makes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Figure, Open, Opt, Params, PathId, Reply, Verdict } from './schema.js';
import { TunnelState } from './tunneld.js';

/** What steerd keeps of probed's path.metrics: the verdict and the figures the SLAs read. */
export const SteerProbe = Reply({
  state: Verdict,
  lossPct: Figure(),
  rttMs: Figure('probed\'s window average (path.metrics rttMs)'),
  jitterMs: Figure(),
  mos: Figure(),
}, { title: 'SteerProbe' });

export const SteerPath = Reply({
  id: Type.Integer({ description: 'the path\'s fwmark and routing table' }),
  name: PathId,
  site: Type.String(),
  table: Type.Integer(),
  wan: Type.String(),
  weight: Type.Number(),
  cost: Type.Number(),
  metered: Type.Boolean(),
  state: Type.Union([Type.Literal('up'), Type.Literal('degraded'), Type.Literal('down')], { description: 'the selector\'s input: down when the tunnel is not up' }),
  lossPct: Type.Number(),
  latencyMs: Type.Number({ description: 'the RTT the SLAs compare (probed\'s window average; 0 when none)' }),
  jitterMs: Type.Number(),
  mos: Type.Number(),
  tunnel: Type.Union([TunnelState, Type.Null()]),
  probe: Type.Union([SteerProbe, Type.Null()]),
}, { title: 'SteerPath' });

export const FlowRow = Reply({
  protocol: Type.Integer(),
  src: Type.String(),
  dst: Type.String(),
  srcPort: Type.Integer(),
  dstPort: Type.Integer(),
  class: Type.String({ description: 'the app class' }),
  path: Type.String({ description: 'the path id, main, or mark 0x..' }),
  mark: Type.Integer(),
  packets: Type.Number(),
  bytes: Type.Number(),
}, { title: 'FlowRow' });

export const SteerCounters = Reply({
  method: Type.String({ description: 'how packets reach the queue: nft or iptables' }),
  queues: Type.Array(Open('one NFQUEUE\'s counters')),
  totals: Open('refreshes, moves, mark updates, sweeps, ...'),
  moveEvents: Open('the move log\'s counters'),
  sites: Type.Array(Reply({ site: Type.String(), paths: Type.Array(Open('the selector\'s view of one path')) })),
}, { title: 'SteerCounters' });

export const steerdApi = defineContract({
  daemon: 'steerd',
  summary: 'Path selection per flow: app classes, policies, the path table, the fast path\'s counters.',
  methods: {
    'steer.counters': { summary: 'queues, totals and per site the selector\'s counters', result: SteerCounters },
    'steer.paths': { summary: 'every path as the selectors see it (tunnel state, probe verdict and figures)', result: Type.Array(SteerPath) },
    'steer.flows': {
      summary: 'the steered flows conntrack holds, biggest first',
      params: Type.Union([Params({ limit: Opt(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 20' })) }), Type.Undefined()]),
      result: Reply({ total: Type.Integer(), flows: Type.Array(FlowRow) }),
    },
    'steer.reload': {
      summary: 'read appClasses and policies from tern.yaml again (the rest stays)',
      result: Reply({ policyChanged: Type.Boolean(), sitesChanged: Type.Boolean() }),
    },
  },
  topics: {
    'steer.moved': {
      when: 'flows moved to other paths (at most 100 listed)',
      payload: Reply({ why: Type.String(), moves: Type.Array(Open('a flow, its class, from and to (mark and path)')), total: Type.Integer(), marks: Open('the conntrack mark updates') }),
    },
    'steer.counters': { when: 'every housekeeping round', payload: SteerCounters },
    'steer.policy': { when: 'after a reload', payload: Reply({ classes: Type.Array(Type.String()), sites: Type.Array(Type.String()) }) },
  },
});
