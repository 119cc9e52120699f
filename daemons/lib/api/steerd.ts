// steerd's bus API: the path table as the selectors see it, the steered
// flows, the selectors' counters, a reload of the steering sections, and
// the moves it makes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Figure, Opt, Params, PathId, Reply, Verdict } from './schema.js';
import { TunnelState } from './tunneld.js';

/** What steerd keeps of probed's path.metrics: the verdict and the figures the SLAs read. */
export const SteerProbe = Reply({
  state: Verdict,
  lossPct: Figure(),
  rttMs: Figure('probed\'s window average (path.metrics rttMs)'),
  jitterMs: Figure(),
  mos: Figure(),
}, { title: 'SteerProbe' });

const Counts = <K extends string>(keys: readonly K[], description?: string) =>
  Reply(Object.fromEntries(keys.map((k) => [k, Count()])) as Record<K, ReturnType<typeof Count>>, description ? { description } : {});

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
  tunnel: Type.Union([TunnelState, Type.Null()], { description: 'null for an internet path (a WAN has no tunnel)' }),
  probe: Type.Union([SteerProbe, Type.Null()], { description: 'an internet path: probed\'s verdict on its WAN' }),
  holdSec: Opt(Type.Number({ minimum: 0, description: 'internet paths: seconds left of the failback hold, during which new flows avoid the WAN (0: none)' })),
}, { title: 'SteerPath' });

const ClearReason = Type.Union([Type.Literal('down'), Type.Literal('failback'), Type.Literal('removed')], {
  description: 'down: the WAN went down (internet.clearOnDown); failback: flows left a metered WAN after a hold (internet.failback.moveMetered); removed: the path left the plan',
});

export const InternetClear = Reply({
  wan: Type.String(),
  path: PathId,
  reason: ClearReason,
  why: Type.String({ description: 'what set it off' }),
  at: Type.Number({ description: 'wall-clock ms' }),
  chosen: Opt(Count('failback: flows the policy would now put on another WAN')),
  ...Counts(['matched', 'deleted', 'tcp', 'provoked', 'errors'] as const).properties,
  error: Type.Union([Type.String(), Type.Null()]),
}, { title: 'InternetClear', description: 'conntrack entries of an internet path deleted, their TCP clients provoked into a reset (ctClear)' });

const Usage = Reply({ flows: Count(), bytes: Type.Number({ minimum: 0, description: 'both directions (conntrack accounting)' }) });

export const InternetPath = Reply({
  name: PathId,
  wan: Type.String(),
  mark: Type.Integer(),
  table: Type.Integer(),
  state: Type.Union([Type.Literal('up'), Type.Literal('degraded'), Type.Literal('down')], { description: 'the selector\'s input: down while the WAN is down or held' }),
  wanState: Type.Union([Verdict, Type.Null()], { description: 'probed\'s verdict on the WAN; null before the first' }),
  metered: Type.Boolean(),
  holdSec: Type.Number({ minimum: 0, description: 'seconds left of the failback hold' }),
  flows: Count('flows conntrack holds on this path'),
  natFlows: Count('of them NATed (0 when the WAN has nat off)'),
  bytes: Type.Number({ minimum: 0 }),
  classes: Type.Record(Type.String(), Usage, { description: 'app class → its flows and bytes here' }),
}, { title: 'InternetPath' });

export const InternetView = Reply({
  enabled: Type.Boolean({ description: 'internet.enabled and the box has WANs' }),
  paths: Type.Array(InternetPath),
  classes: Type.Array(Reply({ name: Type.String(), wans: Type.Record(Type.String(), Usage, { description: 'WAN → the class\'s flows and bytes there' }) })),
  clears: Type.Array(InternetClear, { description: 'the last 20 clears, oldest first' }),
}, { title: 'InternetView' });

/** A flow's identity: the fields of its original-direction tuple. */
const tupleFields = {
  protocol: Type.Integer({ description: 'IP protocol number' }),
  src: Type.String(),
  dst: Type.String(),
  srcPort: Type.Integer({ description: '0 for a protocol without ports' }),
  dstPort: Type.Integer(),
};

export const FlowRow = Reply({
  ...tupleFields,
  class: Type.String({ description: 'the app class' }),
  path: Type.String({ description: 'the path id, main, or mark 0x..' }),
  mark: Type.Integer(),
  packets: Type.Number(),
  bytes: Type.Number(),
}, { title: 'FlowRow' });

/** Packets the fast path could not read, by reason (each still got a verdict). */
const ParseErrors = Counts(['truncated', 'badVersion', 'badHeader', 'extensionChain'] as const, 'packets that could not be read, by reason');

export const QueueCounters = Reply({
  queue: Type.Integer({ description: 'the NFQUEUE number' }),
  ...Counts(['routes', 'packets', 'verdicts', 'batches', 'largestBatch', 'steered', 'unrouted', 'noPath', 'malformed', 'poisoned', 'panics',
    'recvErrors', 'sendErrors', 'verdictErrors'] as const).properties,
  parseErrors: ParseErrors,
}, { title: 'QueueCounters', description: 'one NFQUEUE worker\'s counters' });

export const SelectorCounters = Reply({
  ...Counts(['flows', 'maxFlows', 'decisions', 'newFlows', 'moves', 'evictions', 'expirations'] as const).properties,
  parseErrors: ParseErrors,
  classes: Type.Array(Reply({ name: Type.String(), ...Counts(['flows', 'newFlows', 'packets', 'bytes', 'moves'] as const).properties })),
  paths: Type.Array(Reply({
    id: Type.Integer(),
    name: Type.String({ description: 'the path id, or mark 0x.. for one steerd no longer plans' }),
    wan: Type.String(),
    state: Type.Union([Type.Literal('up'), Type.Literal('degraded'), Type.Literal('down'), Type.Null()], { description: 'the selector state; null for a path no longer planned' }),
    ...Counts(['flows', 'newFlows', 'packets', 'bytes'] as const).properties,
  })),
}, { title: 'SelectorCounters', description: 'one site\'s selector' });

export const FlowMove = Reply({
  flow: Reply({ family: Type.Union([Type.Literal(4), Type.Literal(6)]), ...tupleFields }),
  class: Type.String({ description: 'the app class' }),
  from: Type.Integer({ description: 'the path mark it left' }),
  to: Type.Integer({ description: 'the path mark it took' }),
  fromPath: Type.String({ description: 'the path id it left (or mark 0x..)' }),
  toPath: Type.String(),
}, { title: 'FlowMove' });

export const SteerCounters = Reply({
  method: Type.Union([Type.Literal('nft'), Type.Literal('iptables')], { description: 'how packets reach the queue' }),
  queues: Type.Array(QueueCounters),
  totals: Counts(['moves', 'markUpdates', 'markMissing', 'sweeps', 'swept', 'refreshes', 'refreshErrors', 'clears', 'cleared'] as const, 'the daemon\'s totals since start (clears: internet clears; cleared: conntrack entries they deleted)'),
  moveEvents: Counts(['written', 'coalesced', 'errors'] as const, 'the move log: path.move events written, coalesced into a later one, failed'),
  sites: Type.Array(Type.Intersect([Reply({ site: Type.String() }), SelectorCounters])),
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
    'steer.internet': { summary: 'WAN usage per app class: each WAN\'s internet path, its flows and bytes per class, NATed flows, hold, the last clears', result: InternetView },
    'steer.reload': {
      summary: 'read appClasses and policies from tern.yaml again (the rest stays)',
      result: Reply({ policyChanged: Type.Boolean(), sitesChanged: Type.Boolean() }),
    },
  },
  topics: {
    'steer.moved': {
      when: 'flows moved to other paths (at most 100 listed)',
      payload: Reply({
        why: Type.String(),
        moves: Type.Array(FlowMove),
        total: Count('flows moved, listed or not'),
        marks: Counts(['updated', 'missing', 'failed', 'skipped'] as const, 'the conntrack mark updates: missing = no such flow in conntrack, skipped = no ports to address it by'),
      }),
    },
    'steer.counters': { when: 'every housekeeping round', payload: SteerCounters },
    'steer.policy': { when: 'after a reload', payload: Reply({ classes: Type.Array(Type.String()), sites: Type.Array(Type.String()) }) },
  },
});
